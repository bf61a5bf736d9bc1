/**
 * Seeded pseudo-random numbers. Everything the data layer samples (caption choice, synthetic scenes,
 * splits) draws from these so that one seed reproduces the same data byte for byte.
 */

/**
 * mulberry32: a 32-bit generator, small and fast, good enough for sampling (not for cryptography).
 * Returns a function yielding floats in [0, 1). The seed is reduced to 32 bits.
 */
export function createRng(seed: number): () => number {
  if (!Number.isFinite(seed)) throw new RangeError(`createRng: seed must be a finite number, got ${seed}`);
  let a = Math.trunc(seed) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates shuffle of xs in place with the given generator; returns xs. */
export function shuffle<T>(xs: T[], rng: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = xs[i] as T;
    xs[i] = xs[j] as T;
    xs[j] = tmp;
  }
  return xs;
}

/** An integer in [lo, hi] inclusive. */
export function randInt(rng: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** A uniformly chosen element of a non-empty array. */
export function pick<T>(rng: () => number, xs: readonly T[]): T {
  if (xs.length === 0) throw new RangeError('pick: cannot choose from an empty array');
  return xs[Math.floor(rng() * xs.length)] as T;
}
