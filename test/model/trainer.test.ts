import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { beamSearch } from '../../src/decoding/index.js';
import { ShowAttendTell, Trainer, defaultModelConfig, type ModelConfig, type TrainerOptions } from '../../src/model/index.js';
import { createRng } from '../../src/model/random.js';
import { S, tinyVocab, toyBatch } from './helpers.js';

const vocab = tinyVocab();
const config: ModelConfig = defaultModelConfig({
  vocabSize: vocab.size,
  encoder: { kind: 'compact-cnn', channels: [8, 16] },
  gridSize: 4,
  attentionDim: 16,
  embedDim: 16,
  decoderDim: 32,
  dropout: 0.1,
});
const options: TrainerOptions = { decoderLr: 3e-3, encoderLr: 3e-3, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1 };

beforeAll(async () => {
  await initBackend();
});

describe('Trainer', () => {
  it('returns finite stats as numbers and leaks nothing after the optimizer state exists', async () => {
    const model = ShowAttendTell.create(config, { seed: 1 });
    const trainer = new Trainer(model, { ...options, clipNorm: 1, scheduledSampling: 0.5 });
    const batch = toyBatch(4, createRng(1));
    await trainer.step(batch); // creates Adam's moments (owned by the optimizer)
    const before = tf.memory().numTensors;
    const stats = await trainer.step(batch);
    expect(tf.memory().numTensors).toBe(before);
    expect(stats.tokens).toBe(4 * 4);
    expect(Number.isFinite(stats.loss) && Number.isFinite(stats.gradNorm!)).toBe(true);
    expect(stats.loss).toBeCloseTo(stats.crossEntropy + stats.attentionPenalty, 5);
    expect(trainer.steps).toBe(2);
    trainer.dispose();
    model.dispose();
  });

  it('trains the encoder too, and lets learning rates change', async () => {
    const model = ShowAttendTell.create(config, { seed: 2 });
    const trainer = new Trainer(model, options);
    trainer.setLearningRates({ decoder: 1e-3, encoder: 0 });
    expect(trainer.learningRates()).toEqual({ decoder: 1e-3, encoder: 0 });
    const k0 = model.encoderVariables()[0]!.variable.dataSync().slice();
    const d0 = model.decoder.fcKernel.dataSync().slice();
    await trainer.step(toyBatch(4, createRng(2)));
    expect(model.encoderVariables()[0]!.variable.dataSync()).toEqual(k0);
    expect(model.decoder.fcKernel.dataSync()).not.toEqual(d0);
    trainer.setLearningRates({ decoder: 1e-3, encoder: 1e-3 });
    await trainer.step(toyBatch(4, createRng(3)));
    expect(model.encoderVariables()[0]!.variable.dataSync()).not.toEqual(k0);
    trainer.dispose();
    model.dispose();
  });

  it('rejects bad options and batches with the field named', async () => {
    const model = ShowAttendTell.create(config, { seed: 3 });
    expect(() => new Trainer(model, { ...options, scheduledSampling: 2 })).toThrow(/scheduledSampling/);
    const trainer = new Trainer(model, options);
    const batch = toyBatch(2, createRng(4));
    await expect(trainer.step({ ...batch, lengths: new Int32Array([1, 5]) })).rejects.toThrow(/caption length 1/);
    await expect(trainer.step({ ...batch, imageSize: 8 })).rejects.toThrow(/TrainBatch.images/);
    trainer.dispose();
    model.dispose();
  });

  it('learns a toy task: loss drops clearly within 100 steps and captions name the quadrant colour', async () => {
    const model = ShowAttendTell.create(config, { seed: 4 });
    const trainer = new Trainer(model, options);
    const rng = createRng(5);
    const losses: number[] = [];
    for (let i = 0; i < 100; i++) losses.push((await trainer.step(toyBatch(16, rng))).crossEntropy);
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    expect(last).toBeLessThan(first * 0.3);
    const test = toyBatch(16, createRng(99));
    const images = tf.tensor4d(test.images, [16, S, S, 3]);
    const feats = model.encode(images);
    const results = await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 6 });
    tf.dispose([images, feats]);
    const correct = results.filter((r, i) => r.caption === `a ${test.colours[i]} square`).length;
    expect(correct).toBeGreaterThanOrEqual(12);
    trainer.dispose();
    model.dispose();
  });
});
