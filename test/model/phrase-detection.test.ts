import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { ShowAttendTell, Trainer, captionPhraseLabels, defaultModelConfig, prepareTargets, selectPhrases, validateModelConfig } from '../../src/model/index.js';
import { phraseDetectionLoss } from '../../src/model/loss.js';
import { noise, tinyVocab } from './helpers.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const vocab = tinyVocab();
const id = (w: string) => vocab.idOf(w);
const words = (phrases: readonly (readonly [number, number])[]) => phrases.map(([a, b]) => `${vocab.wordOf(a)} ${vocab.wordOf(b)}`);

describe('selectPhrases', () => {
  const captions = [
    ['a', 'red', 'circle'],
    ['a', 'red', 'circle', 'a', 'red', 'circle'], // counted once per caption
    ['a', 'blue', 'square'],
    ['a', 'green', 'square'],
    ['a', 'blue', 'circle'],
    ['red', 'circle', 'zebra', 'circle'], // "zebra" is <unk>: no phrase through it
  ];

  it('ranks two-word phrases by how many captions have them, ties in order of first appearance', () => {
    expect(words(selectPhrases(captions, vocab, 4, 1))).toEqual(['red circle', 'a red', 'a blue', 'circle a']);
  });

  it('drops phrases in more than half of the captions, those below minCaptions, and <unk>', () => {
    const six = [...captions, ['a', 'red', 'circle'], ['a', 'red', 'circle']];
    // "red circle" is now in 5 of 8 captions, "a red" in 4 of 8: the first is scaffolding.
    expect(words(selectPhrases(six, vocab, 10, 2))).toEqual(['a red', 'a blue']);
    expect(selectPhrases(captions, vocab, 10, 1).some(([a, b]) => a === vocab.unkId || b === vocab.unkId)).toBe(false);
  });

  it('refuses a count that is not a positive integer', () => {
    expect(() => selectPhrases(captions, vocab, 0)).toThrow(/phrase count/);
  });
});

const phrases: Array<[number, number]> = [
  [id('red'), id('circle')],
  [id('blue'), id('blue')],
  [id('a'), id('blue')],
];
const targets = () => {
  const e1 = vocab.encode(['a', 'red', 'circle'], 4);
  const e2 = vocab.encode(['blue', 'blue'], 4);
  return prepareTargets({ batchSize: 2, captions: Int32Array.from([...e1.ids, ...e2.ids]), lengths: Int32Array.from([e1.length, e2.length]) });
};
const tinyConfig = () =>
  defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'precomputed' }, gridSize: 2, encoderDim: 3, attentionDim: 4, embedDim: 4, decoderDim: 5, wordDetector: true, phrases });

describe('phrase detection (multiple-instance, noisy-OR over the grid)', () => {
  it('labels the phrases each caption has as adjacent words, and no others', () => {
    const p = targets();
    expect(Array.from(captionPhraseLabels(p.outputs, p.mask, 2, phrases))).toEqual([1, 0, 0, 0, 1, 0]);
  });

  it('equals the binary cross-entropy of noisy-OR probabilities computed by hand', () => {
    const model = ShowAttendTell.create(tinyConfig(), { seed: 3 });
    const features = tf.tensor3d(noise(2 * 4 * 3, 7), [2, 4, 3]);
    const loss = tf.tidy(() => phraseDetectionLoss(model, features, targets()).dataSync()[0]!);
    const k = model.decoder.phraseKernel!.dataSync();
    const bias = model.decoder.phraseBias!.dataSync();
    const f = features.dataSync();
    const labels = [1, 0, 0, 0, 1, 0];
    let sum = 0;
    for (let b = 0; b < 2; b++) {
      for (let q = 0; q < 3; q++) {
        let absent = 1;
        for (let cell = 0; cell < 4; cell++) {
          let z = bias[q]!;
          for (let c = 0; c < 3; c++) z += f[(b * 4 + cell) * 3 + c]! * k[c * 3 + q]!;
          absent *= 1 - 1 / (1 + Math.exp(-z));
        }
        sum += labels[b * 3 + q] ? -Math.log(1 - absent) : -Math.log(absent);
      }
    }
    expect(loss).toBeCloseTo(sum / 6, 4);
    features.dispose();
    model.dispose();
  });

  it('refuses phrases without the word detector, ids outside the vocabulary, and a loss without the head', () => {
    expect(() => validateModelConfig({ ...tinyConfig(), wordDetector: false })).toThrow(/needs wordDetector/);
    expect(() => validateModelConfig({ ...tinyConfig(), phrases: [[0, vocab.size]] })).toThrow(/phrases must be/);
    const model = ShowAttendTell.create({ ...tinyConfig(), phrases: undefined }, { seed: 3 });
    const features = tf.zeros([2, 4, 3]) as tf.Tensor3D;
    expect(() => tf.tidy(() => phraseDetectionLoss(model, features, targets()))).toThrow(/config.phrases/);
    const options = { decoderLr: 1e-3, encoderLr: 1e-3, alphaC: 0, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1, phraseDetection: 1 };
    expect(() => new Trainer(model, options)).toThrow(/phraseDetection needs a model built with a phrase detector/);
    features.dispose();
    model.dispose();
  });

  it('trains the phrase head, and a step leaks no tensor', async () => {
    const model = ShowAttendTell.create(tinyConfig(), { seed: 5 });
    const trainer = new Trainer(model, { decoderLr: 5e-2, encoderLr: 5e-2, alphaC: 0, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1, wordDetection: 1, phraseDetection: 10 });
    const features = tf.tensor3d(noise(2 * 4 * 3, 9), [2, 4, 3]);
    const before = tf.tidy(() => phraseDetectionLoss(model, features, targets()).dataSync()[0]!);
    const kernelBefore = model.decoder.phraseKernel!.dataSync().slice();
    const e1 = vocab.encode(['a', 'red', 'circle'], 4);
    const e2 = vocab.encode(['blue', 'blue'], 4);
    const batch = { batchSize: 2, captions: Int32Array.from([...e1.ids, ...e2.ids]), lengths: Int32Array.from([e1.length, e2.length]) };
    await trainer.stepOnFeatures(features, batch); // creates the optimizer's moments
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await trainer.stepOnFeatures(features, batch);
    expect(tf.memory().numTensors).toBe(tensors);
    const after = tf.tidy(() => phraseDetectionLoss(model, features, targets()).dataSync()[0]!);
    expect(after).toBeLessThan(before * 0.8);
    expect(model.decoder.phraseKernel!.dataSync()).not.toEqual(kernelBefore);
    features.dispose();
    model.dispose();
  });
});
