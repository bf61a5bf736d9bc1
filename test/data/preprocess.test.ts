import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageDecodeError } from '../../src/data/errors.js';
import { makeThumbnail, prepareImage, stackImages } from '../../src/data/preprocess.js';
import { IMAGENET_PREPROCESS, type PreprocessConfig } from '../../src/data/types.js';

/** mean 0, std 1: pixels come out as plain value / 255, easy to assert. */
const PLAIN: PreprocessConfig = { imageSize: 8, mean: [0, 0, 0], std: [1, 1, 1] };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'preprocess-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Pixel (x, y) channel c of a prepared HWC image. */
function px(p: Float32Array, size: number, x: number, y: number, c: number): number {
  return p[(y * size + x) * 3 + c] as number;
}

async function expectDecodeError(p: Promise<unknown>, file: string, reason: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageDecodeError);
  const e = err as ImageDecodeError;
  expect(e.file).toBe(file);
  expect(e.reason).toBe(reason);
  expect(e.message).toContain(file);
}

describe('prepareImage', () => {
  it('normalises an RGB image with the ImageNet constants, HWC float32, squashed to imageSize', async () => {
    const file = join(dir, 'rgb.png');
    await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 255, g: 0, b: 128 } } }).png().toFile(file);
    const out = await prepareImage(file, IMAGENET_PREPROCESS);
    expect(out.size).toBe(256);
    expect(out.pixels).toBeInstanceOf(Float32Array);
    expect(out.pixels.length).toBe(256 * 256 * 3);
    expect([out.sourceWidth, out.sourceHeight]).toEqual([40, 20]);
    expect(out.pixels[0]).toBeCloseTo((1 - 0.485) / 0.229, 4);
    expect(out.pixels[1]).toBeCloseTo((0 - 0.456) / 0.224, 4);
    expect(out.pixels[2]).toBeCloseTo((128 / 255 - 0.406) / 0.225, 4);
  });

  it('squashes instead of cropping: a left half stays the left half of a wide image', async () => {
    const w = 100;
    const raw = Buffer.alloc(w * 10 * 3);
    for (let y = 0; y < 10; y++) for (let x = 0; x < w; x++) raw[(y * w + x) * 3] = x < w / 2 ? 255 : 0;
    const buf = await sharp(raw, { raw: { width: w, height: 10, channels: 3 } }).png().toBuffer();
    const out = await prepareImage(buf, PLAIN);
    expect(px(out.pixels, 8, 0, 4, 0)).toBeCloseTo(1, 2);
    expect(px(out.pixels, 8, 7, 4, 0)).toBeCloseTo(0, 2);
  });

  it('turns grayscale into three equal channels', async () => {
    const buf = await sharp(Buffer.alloc(100, 128), { raw: { width: 10, height: 10, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(buf).metadata()).channels).toBe(1);
    const out = await prepareImage(buf, PLAIN);
    expect(out.pixels.length).toBe(8 * 8 * 3);
    expect(px(out.pixels, 8, 3, 3, 0)).toBeCloseTo(128 / 255, 2);
    expect(px(out.pixels, 8, 3, 3, 2)).toBeCloseTo(px(out.pixels, 8, 3, 3, 0), 5);
  });

  it('flattens RGBA on white: a fully transparent pixel becomes white', async () => {
    const buf = await sharp({ create: { width: 10, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const out = await prepareImage(buf, PLAIN);
    for (let c = 0; c < 3; c++) expect(px(out.pixels, 8, 2, 2, c)).toBeCloseTo(1, 2);
  });

  it('converts a CMYK JPEG to sRGB', async () => {
    const file = join(dir, 'cmyk.jpg');
    await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 230, g: 20, b: 20 } } }).toColourspace('cmyk').jpeg().toFile(file);
    expect((await sharp(file).metadata()).space).toBe('cmyk');
    const out = await prepareImage(file, PLAIN);
    expect(px(out.pixels, 8, 4, 4, 0)).toBeGreaterThan(0.7);
    expect(px(out.pixels, 8, 4, 4, 1)).toBeLessThan(0.3);
    expect(px(out.pixels, 8, 4, 4, 2)).toBeLessThan(0.3);
  });

  it('reduces a 16-bit PNG to the same values as 8-bit', async () => {
    const buf = await sharp({ create: { width: 12, height: 12, channels: 3, background: { r: 255, g: 128, b: 0 } } }).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(buf).metadata()).depth).toBe('ushort');
    const out = await prepareImage(buf, PLAIN);
    expect(px(out.pixels, 8, 1, 1, 0)).toBeCloseTo(1, 2);
    expect(px(out.pixels, 8, 1, 1, 1)).toBeCloseTo(128 / 255, 1);
    expect(px(out.pixels, 8, 1, 1, 2)).toBeCloseTo(0, 2);
  });

  it('applies EXIF orientation 6 (rotate 90 degrees clockwise) and reports the rotated size', async () => {
    // Stored image: 40 wide x 20 high, left half red, right half blue. Orientation 6 means the
    // viewer rotates it 90 degrees clockwise: red ends up on top, blue at the bottom, 20 x 40.
    const w = 40;
    const h = 20;
    const raw = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * 3;
        if (x < w / 2) raw[i] = 255;
        else raw[i + 2] = 255;
      }
    }
    const file = join(dir, 'rotated.jpg');
    await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toFile(file);
    expect((await sharp(file).metadata()).orientation).toBe(6);
    const out = await prepareImage(file, PLAIN);
    expect([out.sourceWidth, out.sourceHeight]).toEqual([20, 40]);
    const top = [0, 1, 2].map((c) => px(out.pixels, 8, 4, 1, c));
    const bottom = [0, 1, 2].map((c) => px(out.pixels, 8, 4, 6, c));
    expect(top[0]).toBeGreaterThan(0.8);
    expect(top[2]).toBeLessThan(0.2);
    expect(bottom[2]).toBeGreaterThan(0.8);
    expect(bottom[0]).toBeLessThan(0.2);
  });

  it('throws ImageDecodeError naming the file for a truncated JPEG', async () => {
    const full = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3366aa' } }).jpeg().toBuffer();
    const file = join(dir, 'truncated.jpg');
    await writeFile(file, full.subarray(0, Math.floor(full.length / 2)));
    await expectDecodeError(prepareImage(file, PLAIN), file, 'corrupt');
  });

  it('tolerates a JPEG that only has a decoder warning (extraneous bytes before a marker), as real data sets contain', async () => {
    const full = await sharp({ create: { width: 32, height: 32, channels: 3, background: '#3366aa' } }).jpeg().toBuffer();
    const sos = full.indexOf(Buffer.from([0xff, 0xda]));
    const warned = Buffer.concat([full.subarray(0, sos), Buffer.from([0x12, 0x34, 0x56]), full.subarray(sos)]);
    await expect(sharp(warned, { failOn: 'warning' }).raw().toBuffer()).rejects.toThrow(/extraneous bytes/);
    const out = await prepareImage(warned, PLAIN, { name: 'warned.jpg' });
    expect(px(out.pixels, 8, 4, 4, 2)).toBeCloseTo(0xaa / 255, 1);
  });

  it('throws ImageDecodeError for random bytes, a text file, an empty file and a missing file', async () => {
    let s = 7;
    const noise = Buffer.alloc(2048, 0).map(() => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24) & 0xff);
    await expectDecodeError(prepareImage(Buffer.from(noise), PLAIN, { name: 'noise.bin' }), 'noise.bin', 'unsupported');
    const text = join(dir, 'notes.txt');
    await writeFile(text, 'this is not an image\n');
    await expectDecodeError(prepareImage(text, PLAIN), text, 'unsupported');
    const empty = join(dir, 'empty.jpg');
    await writeFile(empty, '');
    await expectDecodeError(prepareImage(empty, PLAIN), empty, 'empty');
    await expectDecodeError(prepareImage(Buffer.alloc(0), PLAIN), 'buffer', 'empty');
    const missing = join(dir, 'missing.png');
    await expectDecodeError(prepareImage(missing, PLAIN), missing, 'not-found');
  });

  it('refuses images over the pixel limit, including a header declaring huge dimensions', async () => {
    const buf = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#000' } }).png().toBuffer();
    await expectDecodeError(prepareImage(buf, PLAIN, { name: 'big.png', limitInputPixels: 200 * 200 }), 'big.png', 'too-large');
    await expect(prepareImage(buf, PLAIN, { limitInputPixels: 400 * 400 })).resolves.toBeDefined();
    // A 1x1 PNG whose IHDR claims 100000 x 100000 (the CRC is fixed up so only the size is wrong).
    const huge = Buffer.from(await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } }).png().toBuffer());
    huge.writeUInt32BE(100_000, 16);
    huge.writeUInt32BE(100_000, 20);
    huge.writeUInt32BE(crc32(huge.subarray(12, 29)), 29);
    const file = join(dir, 'huge.png');
    await writeFile(file, huge);
    await expectDecodeError(prepareImage(file, PLAIN), file, 'too-large');
  });

  it('rejects bad options with RangeError before reading anything', async () => {
    await expect(prepareImage('/nonexistent.png', PLAIN, { limitInputPixels: -1 })).rejects.toThrow(/limitInputPixels must be a positive integer/);
    await expect(prepareImage('/nonexistent.png', { ...PLAIN, imageSize: 0 })).rejects.toThrow(RangeError);
    await expect(makeThumbnail(Buffer.from('x'), 0)).rejects.toThrow(/maxSide/);
  });
});

describe('makeThumbnail', () => {
  it('returns a JPEG no larger than maxSide, keeping the aspect ratio', async () => {
    const buf = await sharp({ create: { width: 400, height: 200, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer();
    const thumb = await makeThumbnail(buf, 100);
    const meta = await sharp(thumb).metadata();
    expect(meta.format).toBe('jpeg');
    expect([meta.width, meta.height]).toEqual([100, 50]);
  });

  it('throws ImageDecodeError for bad input', async () => {
    await expectDecodeError(makeThumbnail(Buffer.from('nope'), 64, { name: 'x.txt' }), 'x.txt', 'unsupported');
  });
});

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('stackImages', () => {
  const image = (size: number, fill: number) => ({ pixels: new Float32Array(size * size * 3).fill(fill), size, sourceWidth: size, sourceHeight: size });

  it('stacks images one after another into an NHWC batch', () => {
    const batch = stackImages([image(2, 1), image(2, 2)], 2);
    expect(batch).toHaveLength(2 * 12);
    expect(Array.from(batch.subarray(0, 12))).toEqual(new Array(12).fill(1));
    expect(Array.from(batch.subarray(12))).toEqual(new Array(12).fill(2));
  });

  it('names the image whose size is not the model\'s', () => {
    expect(() => stackImages([image(2, 1), image(3, 1)], 2)).toThrow(/image 1 is 3x3 with 27 values; this model expects 2x2x3 \(preprocess.json imageSize\)/);
  });
});
