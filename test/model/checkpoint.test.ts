import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import type { PreparedImage, PreprocessConfig } from '../../src/data/types.js';
import { Captioner, loadCaptioner } from '../../src/decoding/index.js';
import { CheckpointError, ShowAttendTell, Trainer, defaultModelConfig, loadCheckpoint, saveCheckpoint, type TrainerOptions } from '../../src/model/index.js';
import { noise, noiseBatch, tinyVocab } from './helpers.js';

const vocab = tinyVocab();
const S = 16;
const preprocess: PreprocessConfig = { imageSize: S, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const config = defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'compact-cnn', channels: [8, 16] }, gridSize: 4, attentionDim: 16, embedDim: 16, decoderDim: 32 });
const options: TrainerOptions = { decoderLr: 1e-3, encoderLr: 1e-3, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0.25, seed: 9 };
let tmp: string;

const batch = noiseBatch;

const images: PreparedImage[] = [1, 2, 3].map((seed) => ({ pixels: noise(S * S * 3, seed + 100), size: S, sourceWidth: S, sourceHeight: S }));

beforeAll(async () => {
  await initBackend();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sat-ckpt-'));
});

afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('checkpoints', () => {
  it('keep a phrase detector: its phrases, its weights, and the same re-ranked captions', async () => {
    const id = (w: string) => vocab.idOf(w);
    const model = ShowAttendTell.create({ ...config, wordDetector: true, phrases: [[id('red'), id('circle')], [id('a'), id('blue')]] }, { seed: 2 });
    const dir = path.join(tmp, 'phrases');
    await saveCheckpoint(dir, { model, vocab, preprocess });
    const loaded = await loadCaptioner(dir);
    expect(loaded.model.config.phrases).toEqual([[id('red'), id('circle')], [id('a'), id('blue')]]);
    expect(loaded.model.decoder.phraseKernel!.dataSync()).toEqual(model.decoder.phraseKernel!.dataSync());
    const opts = { beamSize: 3, maxSteps: 8, returnAlternatives: 3 };
    const a = await new Captioner(model, vocab, preprocess).caption(images, opts);
    const b = await loaded.caption(images, opts);
    expect(b.map((r) => r.alternatives.map((h) => h.score))).toEqual(a.map((r) => r.alternatives.map((h) => h.score)));
    model.dispose();
    loaded.model.dispose();
  });

  it('refuses a model.json that names a setting this version does not have, naming it', async () => {
    const model = ShowAttendTell.create(config, { seed: 2 });
    const dir = path.join(tmp, 'removed-setting');
    await saveCheckpoint(dir, { model, vocab, preprocess });
    model.dispose();
    const file = path.join(dir, 'model.json');
    const json = JSON.parse(await fs.readFile(file, 'utf8'));
    await fs.writeFile(file, JSON.stringify({ ...json, config: { ...json.config, twinMarks: [0] } }));
    await expect(loadCheckpoint(dir)).rejects.toThrow(/twinMarks is not a setting of this version; remove it/);
  });

  it('round-trip: the loaded captioner gives the same captions, scores and modelId', async () => {
    const model = ShowAttendTell.create(config, { seed: 1 });
    const dir = path.join(tmp, 'round-trip');
    await saveCheckpoint(dir, { model, vocab, preprocess, training: { epoch: 3 }, meta: { note: 'x' } });
    const original = new Captioner(model, vocab, preprocess);
    const loaded = await loadCaptioner(dir);
    expect(loaded.modelId).toBe(original.modelId);
    expect(loaded.preprocess).toEqual(preprocess);
    expect(loaded.vocab.words).toEqual(vocab.words);
    const opts = { beamSize: 3, maxSteps: 8, returnAlternatives: 2 };
    const a = await original.caption(images, opts);
    const b = await loaded.caption(images, opts);
    expect(b.map((r) => r.alternatives.map((h) => h.ids))).toEqual(a.map((r) => r.alternatives.map((h) => h.ids)));
    b.forEach((r, i) => expect(r.best.logProb).toBeCloseTo(a[i]!.best.logProb, 5));
    const { training, meta, trainerState, model: m2 } = await loadCheckpoint(dir);
    expect(training).toEqual({ epoch: 3 });
    expect(meta).toEqual({ note: 'x' });
    expect(trainerState).toBeUndefined();
    m2.dispose();
    original.dispose();
    loaded.dispose();
  });

  it('resume: a restored trainer takes the same next step as the uninterrupted one', async () => {
    const model = ShowAttendTell.create(config, { seed: 2 });
    const trainer = new Trainer(model, options);
    for (let i = 0; i < 3; i++) await trainer.step(batch(i));
    trainer.setLearningRates({ decoder: 5e-4, encoder: 2e-4 });
    const dir = path.join(tmp, 'resume');
    await saveCheckpoint(dir, { model, vocab, preprocess, trainer });
    const next = await trainer.step(batch(3));
    const loaded = await loadCheckpoint(dir);
    expect(loaded.trainerState?.steps).toBe(3);
    const resumed = await Trainer.restore(loaded.model, options, loaded.trainerState!);
    expect(resumed.learningRates()).toEqual({ decoder: 5e-4, encoder: 2e-4 });
    const again = await resumed.step(batch(3));
    expect(again.loss).toBeCloseTo(next.loss, 5);
    const wa = model.namedWeights();
    const wb = loaded.model.namedWeights();
    wa.forEach((w, i) => {
      const x = w.variable.dataSync();
      const y = wb[i]!.variable.dataSync();
      let maxDiff = 0;
      for (let j = 0; j < x.length; j++) maxDiff = Math.max(maxDiff, Math.abs(x[j]! - y[j]!));
      expect(maxDiff, w.name).toBeLessThan(1e-6);
    });
    // A fresh optimizer (no restored moments) takes a visibly different step.
    const fresh = await loadCheckpoint(dir);
    const naive = new Trainer(fresh.model, options);
    await naive.step(batch(3));
    const diff = Math.abs(fresh.model.decoder.fcKernel.dataSync()[0]! - model.decoder.fcKernel.dataSync()[0]!);
    expect(diff).toBeGreaterThan(1e-6);
    // Optimizer state of another model is refused instead of silently mis-assigned.
    const other = ShowAttendTell.create({ ...config, decoderDim: 24 }, { seed: 2 });
    await expect(Trainer.restore(other, options, loaded.trainerState!)).rejects.toThrow(/decoder\/embedding|another model|shape/);
    other.dispose();
    for (const t of [trainer, resumed, naive]) t.dispose();
    for (const m of [model, loaded.model, fresh.model]) m.dispose();
  });

  it('replaces an existing checkpoint atomically and leaves no temporary directories', async () => {
    const dir = path.join(tmp, 'replace');
    const m1 = ShowAttendTell.create(config, { seed: 3 });
    const m2 = ShowAttendTell.create(config, { seed: 4 });
    await saveCheckpoint(dir, { model: m1, vocab, preprocess });
    await saveCheckpoint(dir, { model: m2, vocab, preprocess });
    const loaded = await loadCaptioner(dir);
    expect(loaded.modelId).toBe(new Captioner(m2, vocab, preprocess).modelId);
    expect((await fs.readdir(tmp)).filter((f) => f.startsWith('.'))).toEqual([]);
    const notCheckpoint = path.join(tmp, 'other');
    await fs.mkdir(notCheckpoint);
    await fs.writeFile(path.join(notCheckpoint, 'keep.txt'), 'x');
    await expect(saveCheckpoint(notCheckpoint, { model: m1, vocab, preprocess })).rejects.toThrow(/not a checkpoint/);
    loaded.dispose();
    m1.dispose();
    m2.dispose();
  });

  it('Captioner.caption leaks no tensors', async () => {
    const c = new Captioner(ShowAttendTell.create(config, { seed: 5 }), vocab, preprocess);
    await c.caption(images, { beamSize: 2, maxSteps: 5 });
    const before = tf.memory().numTensors;
    const r = await c.caption(images, { beamSize: 2, maxSteps: 5 });
    expect(r).toHaveLength(3);
    expect(tf.memory().numTensors).toBe(before);
    await expect(c.caption([{ ...images[0]!, size: 8, pixels: new Float32Array(8 * 8 * 3) }], { beamSize: 1, maxSteps: 3 })).rejects.toThrow(/expects 16x16x3/);
    c.dispose();
  });

  describe('bad checkpoints fail with CheckpointError naming the directory', () => {
    let good: string;
    beforeAll(async () => {
      good = path.join(tmp, 'good');
      const m = ShowAttendTell.create(config, { seed: 6 });
      await saveCheckpoint(good, { model: m, vocab, preprocess });
      m.dispose();
    });

    async function broken(name: string, damage: (dir: string) => Promise<void>): Promise<string> {
      const dir = path.join(tmp, name);
      await fs.cp(good, dir, { recursive: true });
      await damage(dir);
      return dir;
    }

    async function expectError(dir: string, pattern: RegExp): Promise<void> {
      const err = await loadCheckpoint(dir).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointError);
      expect((err as CheckpointError).dir).toBe(dir);
      expect((err as Error).message).toContain(dir);
      expect((err as Error).message).toMatch(pattern);
    }

    it('missing directory', async () => {
      await expectError(path.join(tmp, 'nope'), /does not exist/);
    });

    it('missing file', async () => {
      await expectError(await broken('no-vocab', (d) => fs.rm(path.join(d, 'vocabulary.json'))), /missing vocabulary\.json/);
      await expectError(await broken('no-weights', (d) => fs.rm(path.join(d, 'weights.bin'))), /missing weights\.bin/);
    });

    it('another format version', async () => {
      const dir = await broken('v99', async (d) => {
        const j = JSON.parse(await fs.readFile(path.join(d, 'model.json'), 'utf8'));
        j.formatVersion = 99;
        await fs.writeFile(path.join(d, 'model.json'), JSON.stringify(j));
      });
      await expectError(dir, /written by another version/);
    });

    it('shape mismatch and truncated weights', async () => {
      const shape = await broken('shape', async (d) => {
        const j = JSON.parse(await fs.readFile(path.join(d, 'model.json'), 'utf8'));
        j.config.decoderDim = 64;
        await fs.writeFile(path.join(d, 'model.json'), JSON.stringify(j));
      });
      await expectError(shape, /shape mismatch for decoder\/\w+: stored \[\d+, \d+\], model \[\d+, \d+\]/);
      const truncated = await broken('truncated', async (d) => {
        const bytes = await fs.readFile(path.join(d, 'weights.bin'));
        await fs.writeFile(path.join(d, 'weights.bin'), bytes.subarray(0, bytes.length - 8));
      });
      await expectError(truncated, /truncated/);
    });
  });
});
