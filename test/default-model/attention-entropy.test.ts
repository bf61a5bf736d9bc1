import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { ShowAttendTell, Trainer, defaultModelConfig, prepareTargets, teacherForcedLoss } from '../../src/model/index.js';

// The default model's training adds attentionEntropy * (mean attention entropy over real steps).
describe('attentionEntropy', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('adds the weighted mean entropy of the attention maps: between 0 and weight * ln(cells)', () => {
    const model = ShowAttendTell.create(defaultModelConfig({ vocabSize: 8, gridSize: 4, encoder: { kind: 'compact-cnn', channels: [4, 6] }, attentionDim: 8, embedDim: 8, decoderDim: 8 }), { seed: 2 });
    const targets = prepareTargets({ batchSize: 2, captions: Int32Array.from([6, 1, 2, 7, 0, 6, 3, 7, 0, 0]), lengths: Int32Array.from([4, 3]) });
    const images = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const base = { alphaC: 0, training: false, seed: 1, oneHotEmbedding: true };
    const before = tf.memory().numTensors;
    const [plain, weighted] = tf.tidy(() => {
      const f = model.encode(images);
      return [teacherForcedLoss(model, f, targets, base).loss.dataSync()[0]!, teacherForcedLoss(model, f, targets, { ...base, attentionEntropy: 0.5 }).loss.dataSync()[0]!];
    });
    expect(tf.memory().numTensors).toBe(before);
    const added = weighted - plain;
    expect(added).toBeGreaterThan(0);
    expect(added).toBeLessThanOrEqual(0.5 * Math.log(16) + 1e-5);
    expect(() => new Trainer(model, { decoderLr: 1e-3, encoderLr: 1e-3, alphaC: 0, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1, attentionEntropy: -1 })).toThrow(/attentionEntropy/);
    images.dispose();
    model.dispose();
  });
});
