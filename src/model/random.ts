/**
 * Seeded randomness for the model: weight initialisation, dropout seeds and scheduled-sampling
 * draws all derive from one integer, so two runs with the same seed are identical on any backend.
 * The generator is the data layer's (mulberry32); this file adds what only the model needs.
 */
export { createRng } from '../data/rng.js';

/** Mixes two integers into one seed (used to derive per-step seeds from the trainer seed). */
export function mixSeed(a: number, b: number): number {
  let h = Math.imul((a >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul((b >>> 0) + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x27d4eb2d);
  return (h ^ (h >>> 15)) >>> 0;
}

/** n floats drawn uniformly from [lo, hi). */
export function uniformArray(rng: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng();
  return out;
}
