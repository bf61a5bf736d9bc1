import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { createRng } from '../../src/data/rng.js';
import { fitNetworks, packPools, unpackPools, type FitEpoch } from '../../pipelines/fit-threads.js';
import type { ImagePool } from '../../pipelines/reranker-pools.js';

const INPUTS = 6;
const WORDS = ['a', 'red', 'blue', 'circle', 'square', 'there', 'is'];

/** Pools whose best candidate is the one with the largest first feature: something a network can learn. */
function pools(n: number, seed: number): ImagePool[] {
  const draw = createRng(seed);
  return Array.from({ length: n }, () => {
    const candidates = 3 + Math.floor(draw() * 3);
    const features = Array.from({ length: candidates }, () => Float32Array.from({ length: INPUTS }, () => draw() * 2 - 1));
    const top = features.reduce((b, x, c) => (x[0]! > features[b]![0]! ? c : b), 0);
    const words = features.map(() => Array.from({ length: 4 }, () => WORDS[Math.floor(draw() * WORDS.length)]!));
    return { features, rewards: features.map((_, c) => (c === top ? 1 : 0.2)), scores: features.map(() => -draw()), words, references: [words[top]!] };
  });
}

describe('fitting the ensemble on threads', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('packs pools into one shared buffer and back: features read in place, what fitting needs kept', () => {
    const original = pools(5, 1);
    const packed = packPools(original, INPUTS, true);
    expect(packed.features.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(unpackPools(packed)).toEqual(original);
    const lean = unpackPools(packPools(original, INPUTS, false));
    expect(lean.map((p) => p.features)).toEqual(original.map((p) => p.features));
    expect(lean.map((p) => p.rewards)).toEqual(original.map((p) => p.rewards));
    expect(lean.every((p) => p.words.length === 0 && p.references.length === 0)).toBe(true);
    expect(() => packPools([{ ...original[0]!, features: [new Float32Array(2)] }], INPUTS, false)).toThrow(/2 features, expected 6/);
  });

  it('fits every seed\'s network on two threads exactly as on one, in seed order, reporting each one\'s epochs', async () => {
    const train = pools(300, 2);
    const val = pools(60, 3);
    const options = { hidden: 8, epochs: 3, learningRate: 1e-2, batchSize: 32, logProbWeights: [0, 0.1], writeEvenIfWorse: true };
    const before = tf.memory().numTensors;
    const serial = await fitNetworks(train, val, INPUTS, options, [1, 2, 3], 1);
    const heard: Array<[number, FitEpoch]> = [];
    const threaded = await fitNetworks(train, val, INPUTS, options, [1, 2, 3], 2, (k, e) => heard.push([k, e]));
    expect(tf.memory().numTensors).toBe(before);
    expect(threaded).toEqual(serial);
    expect(serial.map((f) => f.best.bleu4).every((b) => b > serial[0]!.baselineBleu4)).toBe(true); // they learned something
    for (const k of [0, 1, 2]) {
      // Epochs 1-3 of the live weights, and from the middle epoch (2) on the averaged ones.
      expect(heard.filter(([m]) => m === k).map(([, e]) => `${e.epoch}${e.averaged ? 'a' : ''}`)).toEqual(['1', '2', '2a', '3', '3a']);
    }
  }, 60_000);

  it('stops when aborted, naming why', async () => {
    const abort = new AbortController();
    abort.abort();
    await expect(fitNetworks(pools(50, 4), pools(10, 5), INPUTS, { hidden: 4, epochs: 2, learningRate: 1e-2, batchSize: 16, logProbWeights: [0], signal: abort.signal }, [1, 2], 2)).rejects.toThrow(/abort/i);
  }, 60_000);
});
