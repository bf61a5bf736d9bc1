import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { ShowAttendTell, Trainer, defaultModelConfig, prepareTargets, teacherForcedLoss, type LossOptions } from '../../src/model/index.js';
import { activeRowsPerStep } from '../../src/model/loss.js';
import { longestFirst } from '../../src/model/trainer.js';
import type { TrainBatch } from '../../src/data/types.js';
import { noise, tinyVocab } from './helpers.js';

// Teacher forcing runs each decoder step on the rows still decoding only (as the reference shrinks
// its batch); it must equal running every row at every step with padding masked.
beforeAll(async () => {
  await initBackend('cpu');
});

const vocab = tinyVocab();
const S = 8;
const WORDS = [['a', 'red', 'circle', 'a', 'blue', 'square'], ['blue'], ['a', 'green', 'square'], ['yellow', 'circle'], ['a', 'red', 'circle', 'a']];

function batchOf(rows: string[][]): TrainBatch {
  const encoded = rows.map((w) => vocab.encode(w, 6));
  return {
    batchSize: rows.length, imageSize: S, maxLen: 6,
    images: noise(rows.length * S * S * 3, 4),
    captions: Int32Array.from(encoded.flatMap((e) => e.ids)),
    lengths: Int32Array.from(encoded.map((e) => e.length)),
    ids: rows.map((w) => w.join('-')),
  };
}

describe('longestFirst', () => {
  it('orders rows by decreasing caption length, stably, moving images, captions and ids together', () => {
    const batch = batchOf(WORDS);
    const sorted = longestFirst(batch);
    expect(Array.from(sorted.lengths)).toEqual([8, 6, 5, 4, 3]);
    expect(sorted.ids).toEqual(['a-red-circle-a-blue-square', 'a-red-circle-a', 'a-green-square', 'yellow-circle', 'blue']);
    const px = S * S * 3;
    const width = batch.captions.length / batch.batchSize;
    [0, 4, 2, 3, 1].forEach((from, to) => {
      expect(sorted.images.subarray(to * px, (to + 1) * px)).toEqual(batch.images.subarray(from * px, (from + 1) * px));
      expect(sorted.captions.subarray(to * width, (to + 1) * width)).toEqual(batch.captions.subarray(from * width, (from + 1) * width));
    });
    expect(longestFirst(sorted)).toBe(sorted);
  });
});

describe('activeRowsPerStep', () => {
  it('counts the captions still going when rows are longest first, and bounds them otherwise', () => {
    const sorted = longestFirst(batchOf(WORDS));
    expect(activeRowsPerStep(prepareTargets(sorted))).toEqual([5, 5, 4, 3, 2, 1, 1]);
    // Unordered: the last row still decoding bounds each step (row 4, four words, runs 5 steps).
    expect(activeRowsPerStep(prepareTargets(batchOf(WORDS)))).toEqual([5, 5, 5, 5, 5, 1, 1]);
  });
});

describe('teacher forcing on the rows still decoding', () => {
  const config = defaultModelConfig({
    vocabSize: vocab.size, attentionDim: 5, embedDim: 4, decoderDim: 6, encoder: { kind: 'compact-cnn', channels: [3, 4], coordChannels: true },
    gridSize: 2, wordDetector: true, attentionMemory: true,
  });

  it.each([
    ['longest first', true],
    ['in any order', false],
  ])('gives the masked full batch its loss and every gradient (%s), without leaking', (_label, sort) => {
    const model = ShowAttendTell.create(config, { seed: 5 });
    const batch = sort ? longestFirst(batchOf(WORDS)) : batchOf(WORDS);
    const p = prepareTargets(batch);
    const images = tf.tensor4d(batch.images, [batch.batchSize, S, S, 3]);
    const tokenWeights = noise(p.steps * batch.batchSize, 8);
    const base: LossOptions = { alphaC: 1, attentionEntropy: 0.3, wordDetection: 2, attentionGuidance: 1, guidanceSharpness: 3, training: false, seed: 0, oneHotEmbedding: true, tokenWeights };
    const vars = model.namedWeights().map((w) => w.variable);
    const run = (o: LossOptions) => {
      const { value, grads } = tf.variableGrads(() => teacherForcedLoss(model, model.encode(images, true), p, o).loss, vars);
      const out = { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync()) };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const before = tf.memory().numTensors;
    const shrunk = run(base);
    expect(tf.memory().numTensors).toBe(before);
    // Two references: every row at every step (the loop before shrinking) and the scheduled-sampling
    // loop fed the ground truth (a sample mask of zeros), which masks padded steps.
    for (const masked of [run({ ...base, everyRowEveryStep: true }), run({ ...base, sampleMask: new Float32Array(p.steps * batch.batchSize) })]) {
      expect(shrunk.loss).toBeCloseTo(masked.loss, 5);
      shrunk.grads.forEach((g, i) => {
        if (vars[i]!.name.endsWith('full_att_bias')) return; // softmax is shift-invariant: its gradient is rounding noise
        const scale = Math.max(...masked.grads[i]!.map(Math.abs), 1e-6);
        const diff = Math.max(...g.map((x, j) => Math.abs(x - masked.grads[i]![j]!)));
        expect(diff / scale, vars[i]!.name).toBeLessThan(1e-4);
      });
    }
    images.dispose();
    model.dispose();
  });

  it('makes a training step independent of the order of the batch', async () => {
    // Two captions of two words: ordering keeps them as given, so the two runs see them swapped.
    const batch = batchOf([...WORDS, ['green', 'square']]);
    const permuted = permuteRows(batch, [5, 3, 1, 0, 4, 2]);
    const step = async (b: TrainBatch) => {
      const model = ShowAttendTell.create({ ...config, dropout: 0 }, { seed: 5 });
      model.embeddingMode = 'one-hot';
      const trainer = new Trainer(model, { decoderLr: 1e-3, encoderLr: 1e-3, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1, wordDetection: 2, attentionGuidance: 1 });
      const stats = await trainer.step(b);
      const weights = model.namedWeights().map((w) => w.variable.dataSync().slice());
      trainer.dispose();
      model.dispose();
      return { stats, weights };
    };
    const a = await step(batch);
    const b = await step(permuted);
    expect(b.stats.tokens).toBe(a.stats.tokens);
    expect(b.stats.loss).toBeCloseTo(a.stats.loss, 5);
    a.weights.forEach((w, i) => {
      const diff = Math.max(...w.map((x, j) => Math.abs(x - b.weights[i]![j]!)));
      expect(diff).toBeLessThan(1e-6);
    });
  });
});

/** The batch's rows in the given order (row to = batch row order[to]). */
function permuteRows(batch: TrainBatch, order: number[]): TrainBatch {
  const px = S * S * 3;
  const width = batch.captions.length / batch.batchSize;
  return {
    ...batch,
    images: Float32Array.from(order.flatMap((i) => Array.from(batch.images.subarray(i * px, (i + 1) * px)))),
    captions: Int32Array.from(order.flatMap((i) => Array.from(batch.captions.subarray(i * width, (i + 1) * width)))),
    lengths: Int32Array.from(order, (i) => batch.lengths[i]!),
    ids: order.map((i) => batch.ids[i]!),
  };
}
