import { colormapLut, type ColormapName } from './colormap.js';

/** Options of {@link attentionToRgba}. */
export interface AttentionImageOptions {
  /** Output size in pixels (square). */
  size: number;
  /** Gaussian sigma in output pixels; 0 disables smoothing. */
  sigma: number;
  colormap: ColormapName;
  /** Overall overlay opacity, 0..1. */
  opacity: number;
}

/**
 * Bilinear upsampling of a gridSize x gridSize map (row-major, values 0..1) to size x size, with
 * half-pixel centres like image resizers (each grid cell covers size/gridSize output pixels).
 */
export function upsampleBilinear(map: ArrayLike<number>, gridSize: number, size: number): Float32Array {
  if (map.length < gridSize * gridSize) {
    throw new RangeError(`attention map has ${map.length} cells, expected gridSize^2 = ${gridSize * gridSize}`);
  }
  const out = new Float32Array(size * size);
  const scale = gridSize / size;
  const at = (r: number, c: number): number => map[r * gridSize + c] ?? 0;
  for (let y = 0; y < size; y++) {
    const sy = Math.min(gridSize - 1, Math.max(0, (y + 0.5) * scale - 0.5));
    const y0 = Math.floor(sy);
    const y1 = Math.min(gridSize - 1, y0 + 1);
    const fy = sy - y0;
    for (let x = 0; x < size; x++) {
      const sx = Math.min(gridSize - 1, Math.max(0, (x + 0.5) * scale - 0.5));
      const x0 = Math.floor(sx);
      const x1 = Math.min(gridSize - 1, x0 + 1);
      const fx = sx - x0;
      const top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx;
      const bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx;
      out[y * size + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

/** Separable Gaussian blur of a size x size field, edges clamped; returns a new array. */
export function gaussianBlur(field: Float32Array, size: number, sigma: number): Float32Array {
  if (sigma <= 0) return field.slice();
  const radius = Math.max(1, Math.ceil(sigma * 3));
  const kernel = new Float32Array(radius * 2 + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += kernel[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= sum;
  const tmp = new Float32Array(field.length);
  const out = new Float32Array(field.length);
  const clamp = (v: number): number => (v < 0 ? 0 : v >= size ? size - 1 : v);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) acc += field[y * size + clamp(x + k)]! * kernel[k + radius]!;
      tmp[y * size + x] = acc;
    }
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) acc += tmp[clamp(y + k) * size + x]! * kernel[k + radius]!;
      out[y * size + x] = acc;
    }
  }
  return out;
}

/**
 * An RGBA overlay for one attention map: upsampled bilinearly, smoothed, renormalised to max 1, coloured,
 * and made more opaque where attention is high so the image stays visible where the model did not look.
 */
export function attentionToRgba(map: ArrayLike<number>, gridSize: number, opts: AttentionImageOptions): Uint8ClampedArray<ArrayBuffer> {
  const { size } = opts;
  const field = gaussianBlur(upsampleBilinear(map, gridSize, size), size, opts.sigma);
  let max = 0;
  for (let i = 0; i < field.length; i++) if (field[i]! > max) max = field[i]!;
  const rgba = new Uint8ClampedArray(size * size * 4);
  // An all-zero map (e.g. a padded step) draws nothing rather than a uniform tint.
  if (max <= 0) return rgba;
  const norm = 1 / max;
  const lut = colormapLut(opts.colormap);
  const opacity = Math.min(1, Math.max(0, opts.opacity));
  for (let i = 0; i < field.length; i++) {
    const v = field[i]! * norm;
    const li = Math.round(v * 255) * 3;
    rgba[i * 4] = lut[li]!;
    rgba[i * 4 + 1] = lut[li + 1]!;
    rgba[i * 4 + 2] = lut[li + 2]!;
    rgba[i * 4 + 3] = Math.round(255 * opacity * (0.3 + 0.7 * v));
  }
  return rgba;
}
