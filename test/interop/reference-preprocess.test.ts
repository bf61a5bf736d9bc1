import * as path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { prepareImage } from '../../src/data/preprocess.js';
import { pilBilinearResize } from '../../src/data/pil-resize.js';
import { REFERENCE_PREPROCESS } from '../../src/interop/import-checkpoint.js';
import { FIXTURES } from './pytorch-fixtures.js';

const fx = (name: string) => path.join(FIXTURES, name);
const raw = async (file: string) => sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });

/** The reference's normalisation of 8-bit pixels, to compare prepareImage with Pillow's output. */
const normalised = (pixels: Uint8Array) => Float32Array.from(pixels, (p, i) => (p / 255 - REFERENCE_PREPROCESS.mean[i % 3]!) / REFERENCE_PREPROCESS.std[i % 3]!);

describe("the reference's resize (scipy.misc.imresize = Pillow's BILINEAR)", () => {
  it.each([
    ['wide.png', 'wide_pil_bilinear.png'],
    ['big_decoded.png', 'big_pil_bilinear.png'],
  ])('pilBilinearResize(%s) is Pillow\'s output bit for bit (shrinking and enlarging)', async (input, pillow) => {
    const src = await raw(fx(input));
    const want = await raw(fx(pillow));
    const got = pilBilinearResize(src.data, src.info.width, src.info.height, 3, 256, 256);
    expect(Buffer.from(got).equals(want.data)).toBe(true);
  });

  it('prepareImage with the imported preprocess.json gives the reference\'s input tensor from a PNG', async () => {
    const img = await prepareImage(fx('wide.png'), REFERENCE_PREPROCESS);
    const want = normalised((await raw(fx('wide_pil_bilinear.png'))).data);
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(img.pixels[i]! - want[i]!));
    expect(max).toBeLessThan(1e-5);
  });

  it('from a JPEG, only the decoders differ: within a few levels of Pillow\'s pixels', async () => {
    const img = await prepareImage(fx('big.jpg'), REFERENCE_PREPROCESS);
    const want = normalised((await raw(fx('big_pil_bilinear.png'))).data);
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(img.pixels[i]! - want[i]!) * 0.229 * 255);
    expect(max).toBeLessThan(4);
  });
});
