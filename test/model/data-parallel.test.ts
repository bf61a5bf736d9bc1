import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { ShowAttendTell, Trainer, defaultModelConfig, type ModelConfig, type TrainerOptions } from '../../src/model/index.js';
import { createRng } from '../../src/model/random.js';
import { splitBatch } from '../../src/model/trainer.js';
import { GradientWorkers } from '../../src/runtime/gradient-workers.js';
import { tinyVocab, toyBatch } from './helpers.js';

// Dropout 0: shards draw their dropout masks from their own seeds, so only a dropout-free model has
// gradients that must agree exactly with the one-thread ones.
const config: ModelConfig = defaultModelConfig({
  vocabSize: tinyVocab().size,
  encoder: { kind: 'compact-cnn', channels: [8, 16], coordChannels: true },
  gridSize: 4, attentionDim: 16, embedDim: 16, decoderDim: 32, dropout: 0, initState: 'bias', wordDetector: true,
});
const options: TrainerOptions = { decoderLr: 3e-3, encoderLr: 3e-3, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1, attentionEntropy: 0.3, wordDetection: 5, attentionGuidance: 1 };

describe('data-parallel training with gradient workers', () => {
  let pool: GradientWorkers;

  beforeAll(async () => {
    const info = await initBackend();
    pool = await GradientWorkers.start({ workers: 1, config, trainer: options, backend: info.name });
  });
  afterAll(async () => {
    await pool.dispose();
  });

  it('splits a batch into row-aligned shards of nearly equal size', () => {
    const batch = toyBatch(5, createRng(3));
    const [a, b] = splitBatch(batch, 2);
    expect([a!.batchSize, b!.batchSize]).toEqual([3, 2]);
    const width = batch.captions.length / 5;
    expect(Array.from(b!.captions)).toEqual(Array.from(batch.captions.slice(3 * width)));
    expect(Array.from(b!.lengths)).toEqual(Array.from(batch.lengths.slice(3)));
    expect(b!.images.length).toBe(2 * 16 * 16 * 3);
    expect(b!.images[0]).toBe(batch.images[3 * 16 * 16 * 3]);
  });

  it("a worker's shard gradients, averaged with the local shard's, equal the whole batch's gradients", async () => {
    const model = ShowAttendTell.create(config, { seed: 5 });
    const trainer = new Trainer(model, options);
    const batch = toyBatch(8, createRng(4)); // every caption has the same length, so the shard means weigh equally
    const [s0, s1] = splitBatch(batch, 2);
    const whole = await trainer.gradients(batch, 9);
    const local = await trainer.gradients(s0!, 9);
    const weights = await Promise.all(trainer.trainableVariables().map(async (v) => (await v.data()) as Float32Array));
    const [remote] = await pool.compute(weights, [s1!], [9]);
    expect(remote!.grads).toHaveLength(whole.grads.length);
    let worst = 0;
    whole.grads.forEach((g, j) => {
      const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
      for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i]! - (local.grads[j]![i]! + remote!.grads[j]![i]!) / 2) / scale);
    });
    expect(worst).toBeLessThan(1e-4);
    expect((local.loss + remote!.loss) / 2).toBeCloseTo(whole.loss, 4);
    expect(local.tokens + remote!.tokens).toBe(whole.tokens);
    trainer.dispose();
    model.dispose();
  });

  it('trains through the workers: the loss falls, and neither thread leaks tensors', async () => {
    const model = ShowAttendTell.create(config, { seed: 6 });
    const trainer = new Trainer(model, options, pool);
    const rng = createRng(6);
    const first = await trainer.step(toyBatch(8, rng));
    const before = tf.memory().numTensors;
    const workerBefore = pool.workerTensors[0];
    const losses: number[] = [];
    for (let i = 0; i < 40; i++) losses.push((await trainer.step(toyBatch(8, rng))).crossEntropy);
    expect(tf.memory().numTensors).toBe(before);
    expect(pool.workerTensors[0]).toBe(workerBefore);
    expect(first.tokens).toBe(8 * 4);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-5))).toBeLessThan(0.6 * mean(losses.slice(0, 5)));
    trainer.dispose();
    model.dispose();
  });

  it('a shard the worker cannot compute fails the step with an error naming the worker and the cause', async () => {
    const model = ShowAttendTell.create(config, { seed: 7 });
    const trainer = new Trainer(model, options);
    const weights = await Promise.all(trainer.trainableVariables().map(async (v) => (await v.data()) as Float32Array));
    const bad = { ...toyBatch(2, createRng(7)), imageSize: 15 };
    await expect(pool.compute(weights, [bad], [1])).rejects.toThrow(/gradient worker 1 failed on its shard: TrainBatch.images has 1536 values/);
    await expect(pool.compute(weights.slice(1), [toyBatch(2, createRng(7))], [1])).rejects.toThrow(/gradient worker 1 failed on its shard: got \d+ weight arrays/);
    trainer.dispose();
    model.dispose();
  });

  it('refuses a pool that cannot start, naming the worker and why', async () => {
    await expect(GradientWorkers.start({ workers: 1, config: { ...config, gridSize: -1 }, trainer: options, backend: 'wasm' })).rejects.toThrow(/gradient worker 1 could not start: .*gridSize/);
  });
});
