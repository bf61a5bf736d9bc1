/**
 * Image decoding and normalisation with sharp, as the reference prepares its inputs: any image
 * becomes an imageSize x imageSize, 3-channel sRGB picture (squashed, not cropped), scaled to [0, 1]
 * and normalised per channel with the model's mean and std.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { ImageDecodeError, type ImageDecodeReason } from './errors.js';
import { pilBilinearResize } from './pil-resize.js';
import type { PreparedImage, PreprocessConfig } from './types.js';

/** Default pixel limit: about 40 megapixels. Larger images are refused before they are decoded. */
export const DEFAULT_LIMIT_INPUT_PIXELS = 40_000_000;

/**
 * Transparent pixels are composited on white: transparent images are mostly icons and drawings made
 * for light pages, where black would hide dark line work (the reference never sees alpha at all).
 */
const FLATTEN_BACKGROUND = { r: 255, g: 255, b: 255 };

export interface PrepareImageOptions {
  /** Name used in errors for a Buffer input (default 'buffer'); a path input names itself. */
  name?: string;
  /** Refuse inputs with more pixels than this (width x height as declared); default 40 megapixels. */
  limitInputPixels?: number;
}

/**
 * Stacks prepared images into one NHWC batch [n, size, size, 3] for the encoder. Every image must be
 * size x size x 3 (a model's preprocess.json imageSize): a mismatch is a RangeError naming the image.
 */
export function stackImages(images: readonly PreparedImage[], size: number): Float32Array {
  const per = size * size * 3;
  const batch = new Float32Array(images.length * per);
  images.forEach((img, i) => {
    if (img.size !== size || img.pixels.length !== per) {
      throw new RangeError(`image ${i} is ${img.size}x${img.size} with ${img.pixels.length} values; this model expects ${size}x${size}x3 (preprocess.json imageSize)`);
    }
    batch.set(img.pixels, i * per);
  });
  return batch;
}

/**
 * Decodes an image file or buffer into the model's input: EXIF orientation applied; grey, CMYK,
 * 16-bit and alpha inputs converted to 8-bit sRGB (alpha flattened on white); resized to
 * cfg.imageSize squared ignoring the aspect ratio; pixel / 255 then (x - mean) / std per channel.
 * Pixels are HWC float32. Throws ImageDecodeError (never a raw sharp error) for unusable input.
 */
export async function prepareImage(
  input: string | Buffer,
  cfg: PreprocessConfig,
  opts: PrepareImageOptions = {},
): Promise<PreparedImage> {
  const size = cfg.imageSize;
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`prepareImage: cfg.imageSize must be a positive integer, got ${size}`);
  }
  const limit = pixelLimit(opts);
  const { file, bytes } = await readInput(input, opts.name);
  try {
    const image = sharp(bytes, { limitInputPixels: limit, failOn: 'error' });
    const meta = await image.metadata();
    const sourceWidth = meta.autoOrient?.width ?? meta.width;
    const sourceHeight = meta.autoOrient?.height ?? meta.height;
    const oriented = image.rotate();
    // 'drop' removes alpha before resizing, so the colours are not premultiplied by it.
    const opaque = cfg.alpha === 'drop' ? oriented.removeAlpha() : oriented.flatten({ background: FLATTEN_BACKGROUND });
    const srgb = opaque.toColourspace('srgb');
    const pil = cfg.resizeKernel === 'pil-bilinear';
    const kernel = cfg.resizeKernel && cfg.resizeKernel !== 'pil-bilinear' ? { kernel: cfg.resizeKernel } : {};
    const decoded = await (pil ? srgb : srgb.resize(size, size, { fit: 'fill', ...kernel }))
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const info = pil ? { ...decoded.info, width: size, height: size } : decoded.info;
    const data = pil ? Buffer.from(pilBilinearResize(decoded.data, decoded.info.width, decoded.info.height, decoded.info.channels, size, size).buffer) : decoded.data;
    if (info.channels !== 3 || info.width !== size || info.height !== size) {
      throw new ImageDecodeError(file, 'unsupported', `decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x3`);
    }
    return { pixels: normalise(data, cfg), size, sourceWidth, sourceHeight };
  } catch (err) {
    throw asDecodeError(err, file);
  }
}

/**
 * A JPEG preview (EXIF-rotated, alpha on white) whose longer side is at most maxSide pixels
 * (never enlarged), for dashboards and result files. Throws ImageDecodeError for unusable input.
 */
export async function makeThumbnail(input: string | Buffer, maxSide = 256, opts: PrepareImageOptions = {}): Promise<Buffer> {
  if (!Number.isInteger(maxSide) || maxSide < 1) {
    throw new RangeError(`makeThumbnail: maxSide must be a positive integer, got ${maxSide}`);
  }
  const limit = pixelLimit(opts);
  const { file, bytes } = await readInput(input, opts.name);
  try {
    return await sharp(bytes, { limitInputPixels: limit, failOn: 'error' })
      .rotate()
      .flatten({ background: FLATTEN_BACKGROUND })
      .toColourspace('srgb')
      .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 80 })
      .toBuffer();
  } catch (err) {
    throw asDecodeError(err, file);
  }
}

function pixelLimit(opts: PrepareImageOptions): number {
  const limit = opts.limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`limitInputPixels must be a positive integer (width x height), got ${limit}`);
  }
  return limit;
}

async function readInput(input: string | Buffer, name: string | undefined): Promise<{ file: string; bytes: Buffer }> {
  if (Buffer.isBuffer(input)) {
    const file = name ?? 'buffer';
    if (input.length === 0) throw new ImageDecodeError(file, 'empty', 'the buffer holds no bytes');
    return { file, bytes: input };
  }
  const file = input;
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ImageDecodeError(file, 'not-found', 'no such file', { cause: err });
    if (code === 'EISDIR') throw new ImageDecodeError(file, 'unsupported', 'is a directory, not an image file', { cause: err });
    throw new ImageDecodeError(file, 'not-found', `cannot read the file (${code ?? String(err)})`, { cause: err });
  }
  if (bytes.length === 0) throw new ImageDecodeError(file, 'empty', 'the file is empty (0 bytes)');
  return { file, bytes };
}

/** Maps sharp/libvips failures onto our reasons; the original message stays in the text and cause. */
function asDecodeError(err: unknown, file: string): ImageDecodeError {
  if (err instanceof ImageDecodeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  let reason: ImageDecodeReason = 'corrupt';
  if (/pixel limit/i.test(message)) reason = 'too-large';
  else if (/unsupported image format|unknown image format|not a known file format/i.test(message)) reason = 'unsupported';
  const hint =
    reason === 'too-large'
      ? ' (raise limitInputPixels if such images are expected)'
      : reason === 'unsupported'
        ? ' (expected JPEG, PNG, WebP, GIF, TIFF, AVIF or SVG)'
        : ' (the file is truncated or damaged)';
  return new ImageDecodeError(file, reason, message + hint, { cause: err });
}

function normalise(data: Buffer, cfg: PreprocessConfig): Float32Array {
  const out = new Float32Array(data.length);
  const scale = [1 / (255 * cfg.std[0]), 1 / (255 * cfg.std[1]), 1 / (255 * cfg.std[2])];
  const offset = [cfg.mean[0] / cfg.std[0], cfg.mean[1] / cfg.std[1], cfg.mean[2] / cfg.std[2]];
  for (let i = 0; i < data.length; i += 3) {
    for (let c = 0; c < 3; c++) out[i + c] = (data[i + c] as number) * (scale[c] as number) - (offset[c] as number);
  }
  return out;
}
