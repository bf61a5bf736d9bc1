import { Vocabulary } from '../../src/data/vocabulary.js';

/** A vocabulary of a few colour/shape words (every word kept: each appears 6 times). */
export function tinyVocab(): Vocabulary {
  const words = ['a', 'red', 'green', 'blue', 'yellow', 'circle', 'square'];
  return Vocabulary.build(words.map((w) => Array<string>(6).fill(w)));
}

/** Deterministic pseudo-random floats in [-1, 1). */
export function noise(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}
