import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { ShowAttendTell, defaultModelConfig, prepareTargets, teacherForcedLoss, type ModelConfig } from '../../src/model/index.js';
import { noise, tinyVocab } from './helpers.js';

// The reference kernels of the cpu backend, in float32: a finite-difference check of the full loss
// (encoder, attention, gate, LSTM, fc, attention penalty) against tf.variableGrads.
beforeAll(async () => {
  await initBackend('cpu');
});

const vocab = tinyVocab();
const small = { vocabSize: vocab.size, attentionDim: 5, embedDim: 4, decoderDim: 6, attentionActivation: 'tanh' as const };
const cases: { label: string; config: ModelConfig; oneHotEmbedding: boolean; input: number[]; extra?: { wordDetection?: number; attentionEntropy?: number; attentionGuidance?: number }; frozen?: RegExp }[] = [
  { label: 'compact CNN, gather embedding', config: defaultModelConfig({ ...small, encoder: { kind: 'compact-cnn', channels: [3, 4] }, gridSize: 2 }), oneHotEmbedding: false, input: [2, 8, 8, 3] },
  { label: 'compact CNN, oneHot embedding', config: defaultModelConfig({ ...small, encoder: { kind: 'compact-cnn', channels: [3, 4] }, gridSize: 2 }), oneHotEmbedding: true, input: [2, 8, 8, 3] },
  {
    label: 'word detector, deep output and attention entropy',
    config: defaultModelConfig({ ...small, encoder: { kind: 'compact-cnn', channels: [4, 4], coordChannels: true }, gridSize: 2, wordDetector: true, deepOutput: true, initState: 'bias' }),
    oneHotEmbedding: true,
    input: [2, 8, 8, 3],
    extra: { wordDetection: 2, attentionEntropy: 0.5 },
  },
  {
    label: 'attention memory (previous map and coverage)',
    // Precomputed features: the check is about the decoder, whose memory runs through every step.
    config: defaultModelConfig({ ...small, encoder: { kind: 'precomputed' }, gridSize: 3, encoderDim: 7, attentionMemory: true, initState: 'bias' }),
    oneHotEmbedding: true,
    input: [2, 9, 7],
    extra: { attentionEntropy: 0.5 },
  },
  {
    label: 'detector-guided attention',
    // The guidance's teacher is held constant by design (no gradient into the detector through it),
    // so finite differences of the detector weights would include a path the loss cuts: they are
    // checked in the word-detector case above. Precomputed features keep the teacher's input fixed.
    config: defaultModelConfig({ ...small, encoder: { kind: 'precomputed' }, gridSize: 3, encoderDim: 7, wordDetector: true, initState: 'bias' }),
    oneHotEmbedding: true,
    input: [2, 9, 7],
    extra: { wordDetection: 2, attentionGuidance: 1 },
    frozen: /detector/,
  },
  // 4 x 16384 values per image: large enough for the transposed-annotation context product.
  { label: 'wide precomputed features (transposed context)', config: defaultModelConfig({ ...small, encoder: { kind: 'precomputed' }, gridSize: 2, encoderDim: 16384 }), oneHotEmbedding: false, input: [2, 4, 16384] },
];

describe('gradient of the full training loss', () => {
  for (const { label, config, oneHotEmbedding, input, extra, frozen } of cases) {
    it(`matches central finite differences (${label})`, () => {
      const model = ShowAttendTell.create(config, { seed: 21 });
      const b = 2;
      const inputTensor: tf.Tensor = tf.tensor(noise(input.reduce((x, y) => x * y), 3), input);
      const images = inputTensor as tf.Tensor4D;
      const e1 = vocab.encode(['a', 'red', 'circle'], 3);
      const e2 = vocab.encode(['blue'], 3);
      const targets = prepareTargets({ batchSize: b, captions: Int32Array.from([...e1.ids, ...e2.ids]), lengths: Int32Array.from([e1.length, e2.length]) });
      const opts = { alphaC: 1, training: false, seed: 0, oneHotEmbedding, ...extra };
      const lossValue = () => tf.tidy(() => teacherForcedLoss(model, model.encode(images, true), targets, opts).loss.dataSync()[0]!);
      // softmax is shift-invariant: the full_att_bias gradient is 0
      const weights = model.namedWeights().filter((w) => w.name !== 'decoder/full_att_bias' && !frozen?.test(w.name));
      const { grads, value } = tf.variableGrads(() => teacherForcedLoss(model, model.encode(images, true), targets, opts).loss, weights.map((w) => w.variable));
      value.dispose();
      const eps = 1e-2;
      let checked = 0;
      for (const { name, variable } of weights) {
        const g = grads[variable.name]!.dataSync();
        // The entry with the largest gradient: finite differences in float32 are meaningless on tiny ones.
        let at = 0;
        for (let i = 1; i < g.length; i++) if (Math.abs(g[i]!) > Math.abs(g[at]!)) at = i;
        const original = variable.dataSync().slice();
        const shifted = (delta: number) => {
          const v = original.slice();
          v[at] = v[at]! + delta;
          tf.tidy(() => variable.assign(tf.tensor(v, variable.shape)));
          return lossValue();
        };
        const numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
        tf.tidy(() => variable.assign(tf.tensor(original, variable.shape)));
        const analytic = g[at]!;
        expect(Math.abs(numeric - analytic) / Math.max(Math.abs(analytic), 1e-3), `${name}[${at}] analytic ${analytic} numeric ${numeric}`).toBeLessThan(2e-2);
        checked++;
      }
      expect(checked).toBe(weights.length);
      tf.dispose(Object.values(grads));
      images.dispose();
      model.dispose();
    });
  }
});
