/**
 * Pillow's Image.resize(size, BILINEAR) on 8-bit images, bit for bit (Pillow's libImaging/Resample.c:
 * an antialiased triangle filter whose support widens with the shrink factor, coefficients in 22-bit
 * fixed point, a horizontal pass into an 8-bit image, then a vertical pass). The PyTorch reference
 * resized with scipy.misc.imresize, which is this call; matching it gives the reference's pixels.
 */

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

/** Per output pixel: first input index, tap count, and fixed-point weights (ksize per pixel). */
function coefficients(inSize: number, outSize: number): { bounds: Int32Array; weights: Float64Array; ksize: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // bilinear support 1.0
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Float64Array(outSize * ksize);
  const pre = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) / filterScale);
      const w = t < 1 ? 1 - t : 0;
      pre[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? pre[x]! / ww : pre[x]!;
      // C's (int) cast of k * 2^22 +- 0.5: truncation toward zero.
      weights[xx * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * ONE : 0.5 + k * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

const clip8 = (v: number): number => {
  const x = Math.floor(v / ONE);
  return x < 0 ? 0 : x > 255 ? 255 : x;
};

/** Resizes interleaved 8-bit pixels (width x height x channels) to outWidth x outHeight as Pillow's BILINEAR. */
export function pilBilinearResize(src: Uint8Array, width: number, height: number, channels: number, outWidth: number, outHeight: number): Uint8Array {
  let img = src;
  let w = width;
  const h = height;
  const vert = coefficients(height, outHeight);
  // Pillow runs the horizontal pass only over the rows the vertical pass reads.
  const first = vert.bounds[0]!;
  const last = vert.bounds[outHeight * 2 - 2]! + vert.bounds[outHeight * 2 - 1]!;
  let rowOffset = 0;
  if (outWidth !== width) {
    const { bounds, weights, ksize } = coefficients(width, outWidth);
    const rows = last - first;
    const out = new Uint8Array(outWidth * rows * channels);
    for (let y = 0; y < rows; y++) {
      const inRow = (y + first) * width * channels;
      for (let xx = 0; xx < outWidth; xx++) {
        const xmin = bounds[xx * 2]!;
        const xmax = bounds[xx * 2 + 1]!;
        for (let c = 0; c < channels; c++) {
          let ss = ONE / 2;
          for (let x = 0; x < xmax; x++) ss += img[inRow + (x + xmin) * channels + c]! * weights[xx * ksize + x]!;
          out[(y * outWidth + xx) * channels + c] = clip8(ss);
        }
      }
    }
    img = out;
    w = outWidth;
    rowOffset = first;
  }
  if (outHeight === h) return img;
  const { bounds, weights, ksize } = vert;
  const out = new Uint8Array(outWidth * outHeight * channels);
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2]! - rowOffset;
    const ymax = bounds[yy * 2 + 1]!;
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < channels; c++) {
        let ss = ONE / 2;
        for (let y = 0; y < ymax; y++) ss += img[((y + ymin) * w + x) * channels + c]! * weights[yy * ksize + y]!;
        out[(yy * w + x) * channels + c] = clip8(ss);
      }
    }
  }
  return out;
}
