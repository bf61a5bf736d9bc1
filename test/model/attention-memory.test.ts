import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { attendPrecompute, decoderStep, initialMemory, initialState } from '../../src/model/decoder.js';
import { ShowAttendTell, defaultModelConfig, validateModelConfig } from '../../src/model/index.js';
import { noise, tinyVocab } from './helpers.js';

const vocab = tinyVocab();
const config = defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'precomputed' }, encoderDim: 8, gridSize: 3, attentionDim: 6, embedDim: 4, decoderDim: 8, attentionActivation: 'tanh', attentionMemory: true });
let model: ShowAttendTell;

beforeAll(async () => {
  await initBackend();
  model = ShowAttendTell.create(config, { seed: 3 });
  // Every attention channel adds its tanh to the score: a cell whose pre-activation the memory drives
  // up (or down) by a lot then wins (or loses) whatever the features say.
  tf.tidy(() => model.decoder.fullAttKernel.assign(tf.onesLike(model.decoder.fullAttKernel)));
});

afterAll(() => model.dispose());

/** Attention of one step from a hand-made memory, with the memory kernel rows set to uPrev / uCov. */
function attend(uPrev: number, uCov: number, previous: number[], coverage: number[]): number[] {
  return tf.tidy(() => {
    model.decoder.memoryAttKernel!.assign(tf.concat([tf.fill([1, 6], uPrev), tf.fill([1, 6], uCov)]) as tf.Tensor2D);
    const f = tf.tensor3d(noise(9 * 8, 5), [1, 9, 8]);
    const { h, c } = initialState(model.decoder, f);
    const emb = tf.gather(model.decoder.embedding, tf.tensor1d([vocab.startId], 'int32')) as tf.Tensor2D;
    const memory = { previous: tf.tensor2d(previous, [1, 9]), coverage: tf.tensor2d(coverage, [1, 9]) };
    return Array.from(decoderStep(model.decoder, attendPrecompute(model.decoder, f), emb, h, c, 'tanh', 1, memory).alpha.dataSync());
  });
}

const oneHot = (i: number) => Array.from({ length: 9 }, (_, j) => (j === i ? 1 : 0));
const argMax = (xs: number[]) => xs.indexOf(Math.max(...xs));

describe('attention memory', () => {
  it('lets the previous map hold attention where it was, and coverage push it off cells already visited', () => {
    const free = attend(0, 0, oneHot(4), oneHot(4));
    const stay = attend(20, 0, oneHot(7), new Array(9).fill(0));
    expect(argMax(stay)).toBe(7);
    expect(stay[7]).toBeGreaterThan(0.9);
    const peak = argMax(free);
    const away = attend(0, -20, new Array(9).fill(0), oneHot(peak));
    expect(away[peak]).toBeLessThan(free[peak]! / 10);
  });

  it('carries the last map and the running sum of maps from step to step', () => {
    tf.tidy(() => {
      const f = tf.tensor3d(noise(2 * 9 * 8, 6), [2, 9, 8]);
      const ctx = attendPrecompute(model.decoder, f);
      let { h, c } = initialState(model.decoder, f);
      let memory = initialMemory(model.decoder, 2, 9);
      const emb = tf.gather(model.decoder.embedding, tf.tensor1d([vocab.startId, vocab.startId], 'int32')) as tf.Tensor2D;
      const alphas: tf.Tensor2D[] = [];
      for (let t = 0; t < 3; t++) {
        const out = decoderStep(model.decoder, ctx, emb, h, c, 'tanh', 1, memory);
        ({ h, c, memory } = out);
        alphas.push(out.alpha);
      }
      expect(Array.from(memory!.previous.dataSync())).toEqual(Array.from(alphas[2]!.dataSync()));
      const sum = tf.addN(alphas).dataSync();
      memory!.coverage.dataSync().forEach((x, i) => expect(x).toBeCloseTo(sum[i]!, 5));
    });
  });

  it('is required by a model built with it, and the config flag must be a boolean', () => {
    tf.tidy(() => {
      const f = tf.zeros([1, 9, 8]) as tf.Tensor3D;
      const { h, c } = initialState(model.decoder, f);
      const emb = tf.zeros([1, 4]) as tf.Tensor2D;
      expect(() => decoderStep(model.decoder, attendPrecompute(model.decoder, f), emb, h, c, 'tanh')).toThrow(/attentionMemory.*initialMemory/);
    });
    expect(() => validateModelConfig({ ...config, attentionMemory: 'yes' as unknown as boolean })).toThrow(/attentionMemory must be true or false/);
    const without = ShowAttendTell.create({ ...config, attentionMemory: false });
    expect(initialMemory(without.decoder, 1, 9)).toBeUndefined();
    without.dispose();
  });
});
