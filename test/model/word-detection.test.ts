import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { ShowAttendTell, defaultModelConfig, prepareTargets } from '../../src/model/index.js';
import { captionWordLabels, wordDetectionLoss } from '../../src/model/loss.js';
import { noise, tinyVocab } from './helpers.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const vocab = tinyVocab();
const targets = () => {
  const e1 = vocab.encode(['a', 'red', 'circle'], 4);
  const e2 = vocab.encode(['blue', 'blue'], 4);
  return prepareTargets({ batchSize: 2, captions: Int32Array.from([...e1.ids, ...e2.ids]), lengths: Int32Array.from([e1.length, e2.length]) });
};

describe('word detection (multiple-instance, noisy-OR over the grid)', () => {
  it('labels exactly the words each caption predicts, <end> included, padding and <start> not', () => {
    const labels = captionWordLabels(targets(), vocab.size);
    const on = (row: number) => [...labels.subarray(row * vocab.size, (row + 1) * vocab.size)].flatMap((x, id) => (x ? [vocab.wordOf(id)] : [])).sort();
    expect(on(0)).toEqual(['<end>', 'a', 'circle', 'red']);
    expect(on(1)).toEqual(['<end>', 'blue']);
  });

  it('equals the binary cross-entropy of noisy-OR probabilities computed by hand', () => {
    const config = defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'precomputed' }, gridSize: 2, encoderDim: 3, attentionDim: 4, embedDim: 4, decoderDim: 5, wordDetector: true });
    const model = ShowAttendTell.create(config, { seed: 3 });
    const features = tf.tensor3d(noise(2 * 4 * 3, 7), [2, 4, 3]);
    const p = targets();
    const loss = tf.tidy(() => wordDetectionLoss(model, features, p).dataSync()[0]!);
    const k = model.decoder.detectorKernel!.dataSync();
    const bias = model.decoder.detectorBias!.dataSync();
    const f = features.dataSync();
    const labels = captionWordLabels(p, vocab.size);
    let sum = 0;
    for (let b = 0; b < 2; b++) {
      for (let w = 0; w < vocab.size; w++) {
        let absent = 1;
        for (let cell = 0; cell < 4; cell++) {
          let z = bias[w]!;
          for (let c = 0; c < 3; c++) z += f[(b * 4 + cell) * 3 + c]! * k[c * vocab.size + w]!;
          absent *= 1 - 1 / (1 + Math.exp(-z));
        }
        const present = 1 - absent;
        sum += labels[b * vocab.size + w] ? -Math.log(present) : -Math.log(absent);
      }
    }
    expect(loss).toBeCloseTo(sum / (2 * vocab.size), 4);
    features.dispose();
    model.dispose();
  });

  it('refuses to run on a model without the detector head', () => {
    const model = ShowAttendTell.create(defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'precomputed' }, gridSize: 2, encoderDim: 3 }), { seed: 3 });
    const features = tf.zeros([2, 4, 3]) as tf.Tensor3D;
    expect(() => tf.tidy(() => wordDetectionLoss(model, features, targets()))).toThrow(/wordDetector: true/);
    features.dispose();
    model.dispose();
  });
});
