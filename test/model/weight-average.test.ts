import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { ShowAttendTell, Trainer, defaultModelConfig, loadCheckpoint, saveCheckpoint, type TrainerOptions } from '../../src/model/index.js';
import { WeightAverage } from '../../src/model/weight-average.js';
import { noiseBatch, tinyVocab } from './helpers.js';

const vocab = tinyVocab();
const S = 16;
const preprocess = { imageSize: S, mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.25, 0.25, 0.25] as [number, number, number] };
const config = defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'compact-cnn', channels: [8, 16] }, gridSize: 4, attentionDim: 16, embedDim: 16, decoderDim: 32 });
const options: TrainerOptions = { decoderLr: 3e-3, encoderLr: 3e-3, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 4, averageDecay: 0.9 };
let tmp: string;

const batch = noiseBatch;

const values = (m: ShowAttendTell): Float32Array[] => m.namedWeights().map((w) => w.variable.dataSync() as Float32Array);
const maxDiff = (a: Float32Array[], b: Float32Array[]): number => Math.max(...a.map((x, i) => x.reduce((d, v, j) => Math.max(d, Math.abs(v - b[i]![j]!)), 0)));

beforeAll(async () => {
  await initBackend();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sat-average-'));
});

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('WeightAverage', () => {
  it('is the exponential moving average with the (1 + n) / (10 + n) ramp, by hand', () => {
    const v = tf.variable(tf.tensor1d([0, 10]));
    const avg = new WeightAverage([{ name: 'v', variable: v }], 0.25);
    const before = tf.memory().numTensors;
    // Update n folds with d = min(0.25, (1 + n) / (10 + n)): 2/11 (the ramp), then 3/12 = 0.25, then capped at 0.25.
    let expected = [0, 10];
    for (const [x, d] of [[2, 2 / 11], [4, 0.25], [6, 0.25], [8, 0.25], [8, 0.25]] as const) {
      v.assign(tf.tensor1d([x, 10 - x]));
      avg.update();
      expected = [expected[0]! * d + x * (1 - d), expected[1]! * d + (10 - x) * (1 - d)];
    }
    expect(tf.memory().numTensors - before).toBe(5); // only the five assigned inputs, none from update()
    return avg.withAverage(async () => {
      const inside = Array.from(v.dataSync());
      expect(inside[0]).toBeCloseTo(expected[0]!, 5);
      expect(inside[1]).toBeCloseTo(expected[1]!, 5);
      expect(avg.swapped).toBe(true);
      expect(() => avg.update()).toThrow(/swapped/);
    }).then(() => {
      expect(Array.from(v.dataSync())).toEqual([8, 2]); // the live weights are back
      avg.dispose();
      v.dispose();
    });
  });

  it('puts the live weights back when the function fails, and leaks nothing', async () => {
    const v = tf.variable(tf.tensor1d([1, 2, 3]));
    const start = tf.memory().numTensors;
    const avg = new WeightAverage([{ name: 'v', variable: v }], 0.99);
    tf.tidy(() => v.assign(tf.tensor1d([5, 5, 5])));
    avg.update();
    const before = tf.memory().numTensors;
    await expect(avg.withAverage(async () => {
      expect(Array.from(v.dataSync())).not.toEqual([5, 5, 5]);
      throw new Error('validation failed');
    })).rejects.toThrow('validation failed');
    expect(Array.from(v.dataSync())).toEqual([5, 5, 5]);
    expect(avg.swapped).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    avg.dispose();
    expect(tf.memory().numTensors).toBe(start);
    v.dispose();
  });

  it('refuses a decay outside (0, 1)', () => {
    const v = tf.variable(tf.scalar(1));
    expect(() => new WeightAverage([{ name: 'v', variable: v }], 1)).toThrow(/decay must be in \(0, 1\)/);
    expect(() => new WeightAverage([{ name: 'v', variable: v }], 0)).toThrow(/decay must be in \(0, 1\)/);
    v.dispose();
  });
});

describe('Trainer with averageDecay', () => {
  it('validates the option', () => {
    const model = ShowAttendTell.create(config, { seed: 1 });
    expect(() => new Trainer(model, { ...options, averageDecay: 1 })).toThrow(/averageDecay must be a number in \[0, 1\)/);
    expect(() => new Trainer(model, { ...options, averageDecay: -0.1 })).toThrow(/averageDecay/);
    model.dispose();
  });

  it('saves the average as the model, keeps the live weights for resuming, and resumes exactly', async () => {
    const model = ShowAttendTell.create(config, { seed: 2 });
    const trainer = new Trainer(model, options);
    for (let i = 0; i < 4; i++) await trainer.step(batch(i));
    const live = values(model);
    const averaged = await trainer.withAveragedWeights(async () => values(model));
    expect(maxDiff(live, averaged)).toBeGreaterThan(1e-4); // the average lags the live weights
    expect(maxDiff(values(model), live)).toBe(0); // and withAveragedWeights put them back

    const dir = path.join(tmp, 'averaged');
    await saveCheckpoint(dir, { model, vocab, preprocess, trainer });
    const saved = await loadCheckpoint(dir);
    expect(maxDiff(values(saved.model), averaged)).toBe(0); // users get the average
    expect(saved.trainerState?.averaging?.updates).toBe(4);

    const resumed = await Trainer.restore(saved.model, options, saved.trainerState!);
    expect(maxDiff(values(saved.model), live)).toBe(0); // training continues from the live weights
    const next = await trainer.step(batch(9));
    const again = await resumed.step(batch(9));
    expect(again.loss).toBeCloseTo(next.loss, 5);
    expect(maxDiff(values(saved.model), values(model))).toBeLessThan(1e-6);
    const a = await trainer.withAveragedWeights(async () => values(model));
    const b = await resumed.withAveragedWeights(async () => values(saved.model));
    expect(maxDiff(a, b)).toBeLessThan(1e-6);

    // Resumed without averaging, training still continues from the live weights, not the average.
    const plain = await loadCheckpoint(dir);
    const off = await Trainer.restore(plain.model, { ...options, averageDecay: 0 }, plain.trainerState!);
    expect(maxDiff(values(plain.model), live)).toBe(0);

    for (const t of [trainer, resumed, off]) t.dispose();
    for (const m of [model, saved.model, plain.model]) m.dispose();
  });

  it('refuses a step while the averaged weights are swapped in', async () => {
    const model = ShowAttendTell.create(config, { seed: 3 });
    const trainer = new Trainer(model, options);
    await trainer.step(batch(0));
    await trainer.withAveragedWeights(async () => {
      await expect(trainer.step(batch(1))).rejects.toThrow(/averaged weights are swapped in/);
    });
    trainer.dispose();
    model.dispose();
  });
});
