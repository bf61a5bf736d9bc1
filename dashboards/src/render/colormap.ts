/** Colour maps for attention overlays: 256-entry RGB lookup tables. */
export type ColormapName = 'inferno' | 'jet' | 'grey';

/** The names offered in the UI, in order. */
export const COLORMAPS: readonly ColormapName[] = ['inferno', 'jet', 'grey'];

// Control points of matplotlib's inferno (perceptually uniform, readable on photos and in greyscale).
const INFERNO: [number, number, number][] = [
  [0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164],
];
const JET: [number, number, number][] = [
  [0, 0, 143], [0, 0, 255], [0, 127, 255], [0, 255, 255], [127, 255, 127], [255, 255, 0], [255, 127, 0], [255, 0, 0], [127, 0, 0],
];
const GREY: [number, number, number][] = [[0, 0, 0], [255, 255, 255]];

const cache = new Map<ColormapName, Uint8Array>();

/** The lookup table of `name`: 256 x (r, g, b) bytes, built once by linear interpolation of control points. */
export function colormapLut(name: ColormapName): Uint8Array {
  let lut = cache.get(name);
  if (lut) return lut;
  const stops = name === 'jet' ? JET : name === 'grey' ? GREY : INFERNO;
  lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const pos = (i / 255) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(pos));
    const f = pos - k;
    const a = stops[k] as [number, number, number];
    const b = stops[k + 1] as [number, number, number];
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(a[c]! + (b[c]! - a[c]!) * f);
  }
  cache.set(name, lut);
  return lut;
}
