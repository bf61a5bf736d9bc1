import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Subject, lastValueFrom, tap, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { generateSynthetic, loadKarpathy, type KarpathyDataset } from '../../src/data/index.js';
import { loadCaptioner } from '../../src/decoding/index.js';
import { loadCheckpoint } from '../../src/model/index.js';
import { evaluate } from '../../pipelines/evaluate.js';
import { trainPipeline, type TrainOptions } from '../../pipelines/train.js';
import type { TrainEvent } from '../../pipelines/train-events.js';
import { annealFactor } from '../../pipelines/train-schedule.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const of = <K extends TrainEvent['type']>(events: TrainEvent[], type: K) => events.filter((e): e is Extract<TrainEvent, { type: K }> => e.type === type);

describe('trainPipeline on a tiny synthetic set', () => {
  let root: string;
  let data: KarpathyDataset;
  const small = { channels: [8, 16, 16, 16] };
  const base = (): Omit<TrainOptions, 'outDir'> => ({
    dataset: data, epochs: 2, batchSize: 4, stepsPerEpoch: 2, valLimit: 4, beamSize: 2, probeCount: 2, maxDecodeSteps: 8,
    model: { encoder: { kind: 'compact-cnn', channels: small.channels }, attentionDim: 16, embedDim: 16, decoderDim: 32 },
  });

  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'train-pipeline-'));
    const ds = await generateSynthetic({ outDir: join(root, 'data'), count: 40, seed: 7 });
    data = await loadKarpathy(ds.jsonPath, ds.imageDir);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('runs epochs of steps, validates, writes best/ and last/ atomically, then resumes where it stopped', async () => {
    const outDir = join(root, 'run');
    const before = tf.memory().numTensors;
    const events = await lastValueFrom(trainPipeline({ ...base(), outDir }).pipe(toArray()));
    expect(events[0]).toMatchObject({ type: 'train.start', epoch: 0, step: 0, resumed: false, stepsPerEpoch: 2 });
    expect(of(events, 'train.step').map((e) => [e.epoch, e.step, e.stepInEpoch])).toEqual([[0, 1, 1], [0, 2, 2], [1, 3, 1], [1, 4, 2]]);
    for (const s of of(events, 'train.step')) {
      expect(Number.isFinite(s.loss)).toBe(true);
      expect(s.examplesPerSec).toBeGreaterThan(0);
      expect(s.learningRate).toBeCloseTo(4e-4);
    }
    const vals = of(events, 'train.validation');
    expect(vals.map((v) => v.epoch)).toEqual([0, 1]);
    expect(vals[0]!.improved).toBe(true);
    expect(vals[0]!.images).toBe(4);
    expect(vals[0]!.probes).toHaveLength(2);
    const probe = vals[0]!.probes[0]!;
    expect(probe.attention.length).toBeGreaterThanOrEqual(probe.words.length);
    expect(probe.attention[0]!.length).toBe(probe.gridSize ** 2);
    expect(probe.references.length).toBeGreaterThan(0);
    expect(of(events, 'train.checkpoint').filter((c) => c.kind === 'last').map((c) => c.epoch)).toEqual([0, 1]);
    // Synthetic scenes carry annotations: validation reports the same grounding figures as
    // `captioner eval` gives for the checkpoint saved at that validation.
    const grounding = vals[1]!.grounding!;
    expect(grounding.images).toBe(4);
    const evaluated = await loadCaptioner(join(outDir, 'last'));
    const report = await evaluate({ captioner: evaluated, dataset: data, split: 'val', limit: 4, beamSize: 2, maxSteps: 8, backend: 'wasm' });
    evaluated.dispose();
    expect(grounding).toEqual({
      hitRate: report.attention!.rate, contentAccuracy: report.content!.accuracy, completeAccuracy: report.content!.completeAccuracy,
      objectCoverage: report.content!.objectCoverage, images: 4,
    });
    expect(events.at(-1)).toMatchObject({ type: 'train.end', reason: 'completed', limit: 'epochs', epochs: 2, steps: 4 });
    // Atomic writes leave no temporary siblings behind.
    expect((await readdir(outDir)).sort()).toEqual(['best', 'last']);
    const last = await loadCheckpoint(join(outDir, 'last'));
    expect(last.training).toMatchObject({ nextEpoch: 2, step: 4 });
    expect(last.trainerState?.steps).toBe(4);
    last.model.dispose();
    await sleep(50); // the model is disposed after the last step settles
    expect(tf.memory().numTensors - before).toBe(0);

    // Without --resume an existing run is refused, naming the fix.
    await expect(lastValueFrom(trainPipeline({ ...base(), outDir }))).rejects.toThrow(/--resume/);

    const resumed = await lastValueFrom(trainPipeline({ ...base(), outDir, epochs: 3, resume: true }).pipe(toArray()));
    expect(resumed[0]).toMatchObject({ type: 'train.start', epoch: 2, step: 4, resumed: true });
    expect(of(resumed, 'train.step').map((e) => [e.epoch, e.step])).toEqual([[2, 5], [2, 6]]);
    expect(resumed.at(-1)).toMatchObject({ type: 'train.end', epochs: 3, steps: 6 });
    const last2 = await loadCheckpoint(join(outDir, 'last'));
    expect(last2.training).toMatchObject({ nextEpoch: 3, step: 6 });
    expect(last2.trainerState?.steps).toBe(6);
    last2.model.dispose();
  });

  it('stops gracefully on stop$: the epoch in progress is validated and saved, end reason stopped', async () => {
    const outDir = join(root, 'stopped');
    const stop$ = new Subject<void>();
    const events = await lastValueFrom(
      trainPipeline({ ...base(), outDir, epochs: 5, stepsPerEpoch: 4, stop$ }).pipe(
        tap((e) => e.type === 'train.step' && e.step === 2 && stop$.next()),
        toArray(),
      ),
    );
    // The request lands after step 2 is reported; at most the step already started (3) still runs.
    expect(of(events, 'train.step').length).toBeLessThan(4);
    expect(events.at(-1)).toMatchObject({ type: 'train.end', reason: 'stopped', epochs: 1 });
    expect((await stat(join(outDir, 'last', 'model.json'))).isFile()).toBe(true);
  });

  it('a hard stop (unsubscribe) emits nothing more and frees the model once the step in flight settles', async () => {
    const before = tf.memory().numTensors;
    const seen: TrainEvent[] = [];
    const sub = trainPipeline({ ...base(), outDir: join(root, 'hard'), epochs: 5, stepsPerEpoch: 10 }).subscribe((e) => {
      seen.push(e);
      if (e.type === 'train.step') sub.unsubscribe();
    });
    for (let i = 0; i < 200 && !seen.some((e) => e.type === 'train.step'); i++) await sleep(50);
    const count = seen.length;
    await sleep(1500);
    expect(seen.length).toBe(count);
    expect(tf.memory().numTensors - before).toBe(0);
  });

  it('with checkpointEverySteps, a run killed mid-epoch resumes at the saved step inside the epoch', async () => {
    const outDir = join(root, 'mid-epoch');
    const opts = { ...base(), outDir, epochs: 1, stepsPerEpoch: 4, checkpointEverySteps: 1 };
    const seen: TrainEvent[] = [];
    await new Promise<void>((resolve) => {
      const sub = trainPipeline(opts).subscribe((e) => {
        seen.push(e);
        if (e.type === 'train.step' && e.step === 2) {
          sub.unsubscribe(); // a kill: nothing is saved after this point
          resolve();
        }
      });
    });
    expect(of(seen, 'train.checkpoint').map((c) => [c.kind, c.epoch])).toEqual([['last', 0], ['last', 0]]);
    await sleep(300); // let the step in flight (3) settle; it is not saved
    const last = await loadCheckpoint(join(outDir, 'last'));
    expect(last.training).toMatchObject({ nextEpoch: 0, step: 2, epochSteps: 2, epochOffset: 8 });
    last.model.dispose();

    const resumed = await lastValueFrom(trainPipeline({ ...opts, resume: true }).pipe(toArray()));
    expect(resumed[0]).toMatchObject({ type: 'train.start', epoch: 0, step: 2, resumed: true });
    expect(of(resumed, 'train.step').map((e) => [e.step, e.stepInEpoch])).toEqual([[3, 3], [4, 4]]);
    expect(of(resumed, 'train.epoch')[0]).toMatchObject({ epoch: 0, steps: 4, examples: 8 });
    expect(resumed.at(-1)).toMatchObject({ type: 'train.end', epochs: 1, steps: 4 });
  });

  it('fails on bad options with a message naming them', async () => {
    await expect(lastValueFrom(trainPipeline({ ...base(), outDir: join(root, 'bad1'), prefetch: 2 }))).rejects.toThrow(/prefetch \(2\) must be an integer >= batchSize \(4\)/);
    await expect(lastValueFrom(trainPipeline({ ...base(), outDir: join(root, 'bad2'), patience: 0 }))).rejects.toThrow(/patience/);
    await expect(lastValueFrom(trainPipeline({ ...base(), outDir: join(root, 'bad3'), resume: true }))).rejects.toThrow(/holds no checkpoint to resume/);
    await expect(lastValueFrom(trainPipeline({ ...base(), outDir: join(root, 'bad4'), workers: 5 }))).rejects.toThrow(/workers \(5\) must be <= batchSize \(4\)/);
  });

  it('with annealMinutes, the learning rates follow the anneal and its clock is saved for resume', async () => {
    const outDir = join(root, 'anneal');
    // A budget far shorter than one step: every step after the first trains at the floor.
    const events = await lastValueFrom(trainPipeline({ ...base(), outDir, annealMinutes: 1e-5, annealFloor: 0.1 }).pipe(toArray()));
    const lrs = of(events, 'train.step').map((e) => e.learningRate);
    expect(lrs.slice(1).every((lr) => Math.abs(lr - 4e-5) < 1e-12)).toBe(true);
    const last = await loadCheckpoint(join(outDir, 'last'));
    const minutes = (last.training as { minutes: number }).minutes;
    expect(minutes).toBeGreaterThan(0);
    await lastValueFrom(trainPipeline({ ...base(), outDir, resume: true, epochs: 3, annealMinutes: 1e-5, annealFloor: 0.1 }));
    expect(((await loadCheckpoint(join(outDir, 'last'))).training as { minutes: number }).minutes).toBeGreaterThan(minutes);
    await expect(lastValueFrom(trainPipeline({ ...base(), outDir: join(root, 'bad5'), annealFloor: 2, annealMinutes: 1 }))).rejects.toThrow(/annealFloor must be in \[0, 1\], got 2/);
  });

  it('with maxSteps and annealSteps, stops at the step budget (cutting an epoch short) and anneals by step, across a resume', async () => {
    const outDir = join(root, 'steps');
    // Two steps per epoch: a budget of 3 cuts the second epoch after its first step.
    const events = await lastValueFrom(trainPipeline({ ...base(), outDir, epochs: 9, maxSteps: 3, annealSteps: 4, annealFloor: 0.1 }).pipe(toArray()));
    const steps = of(events, 'train.step');
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3]);
    steps.forEach((e, i) => expect(e.learningRate).toBeCloseTo(4e-4 * annealFactor(i, 4, 0.1), 12));
    expect(of(events, 'train.end')[0]).toMatchObject({ reason: 'completed', limit: 'max-steps', steps: 3, epochs: 2 });
    // A resume with a larger budget goes on counting from step 3, on the same anneal.
    const more = await lastValueFrom(trainPipeline({ ...base(), outDir, resume: true, epochs: 9, maxSteps: 5, annealSteps: 4, annealFloor: 0.1 }).pipe(toArray()));
    expect(of(more, 'train.step').map((e) => [e.step, e.learningRate])).toEqual([[4, 4e-4 * annealFactor(3, 4, 0.1)], [5, 4e-5]]);
    expect(of(more, 'train.end')[0]).toMatchObject({ limit: 'max-steps', steps: 5 });
    const bad = (o: Partial<TrainOptions>, dir: string) => lastValueFrom(trainPipeline({ ...base(), outDir: join(root, dir), ...o }));
    await expect(bad({ annealSteps: 4, annealMinutes: 1 }, 'bad-steps1')).rejects.toThrow(/annealMinutes and annealSteps are two clocks for one anneal: set one/);
    await expect(bad({ maxSteps: 0 }, 'bad-steps2')).rejects.toThrow(/maxSteps must be a positive integer, got 0/);
  });

  it("with annealGroups 'encoder', only the encoder's learning rate is annealed", async () => {
    const outDir = join(root, 'anneal-encoder');
    const events = await lastValueFrom(trainPipeline({ ...base(), outDir, epochs: 1, annealMinutes: 1e-5, annealFloor: 0.1, annealGroups: 'encoder' }).pipe(toArray()));
    expect(of(events, 'train.step').every((e) => e.learningRate === 4e-4)).toBe(true);
    const last = await loadCheckpoint(join(outDir, 'last'));
    expect(last.trainerState!.learningRates.decoder).toBe(4e-4);
    expect(last.trainerState!.learningRates.encoder).toBeCloseTo(1e-5, 12);
    last.model.dispose();
    const bad = { ...base(), outDir: join(root, 'bad6'), annealMinutes: 1, annealGroups: 'lstm' as 'both' };
    await expect(lastValueFrom(trainPipeline(bad))).rejects.toThrow(/annealGroups must be 'both', 'encoder' or 'decoder', got lstm/);
  });

  it('with averageDecay, validation scores and checkpoints hold the averaged weights; training resumes from the live ones', async () => {
    const outDir = join(root, 'averaged');
    const before = tf.memory().numTensors;
    const opts = { ...base(), outDir, epochs: 1, workers: 2, trainer: { averageDecay: 0.5, decoderLr: 3e-3, encoderLr: 3e-3 } };
    const events = await lastValueFrom(trainPipeline(opts).pipe(toArray()));
    const grounding = of(events, 'train.validation')[0]!.grounding!;
    const saved = await loadCaptioner(join(outDir, 'last'));
    const report = await evaluate({ captioner: saved, dataset: data, split: 'val', limit: 4, beamSize: 2, maxSteps: 8, backend: 'wasm' });
    saved.dispose();
    expect(grounding).toMatchObject({ hitRate: report.attention!.rate, contentAccuracy: report.content!.accuracy });
    const last = await loadCheckpoint(join(outDir, 'last'));
    const best = await loadCheckpoint(join(outDir, 'best'));
    const averaging = last.trainerState!.averaging!;
    expect(averaging.updates).toBe(2);
    const weights = new Map(last.model.namedWeights().map((w) => [w.name, w.variable.dataSync()]));
    best.model.namedWeights().forEach((w) => expect(Array.from(w.variable.dataSync())).toEqual(Array.from(weights.get(w.name)!)));
    expect(averaging.average.length).toBeGreaterThan(10);
    let liveVsSaved = 0;
    averaging.average.forEach((avg, i) => {
      const model = weights.get(avg.name)!;
      expect(Array.from(avg.values), avg.name).toEqual(Array.from(model));
      liveVsSaved = Math.max(liveVsSaved, ...Array.from(averaging.live[i]!.values, (v, j) => Math.abs(v - model[j]!)));
    });
    expect(liveVsSaved).toBeGreaterThan(1e-5); // the model files hold the average, not the live weights
    last.model.dispose();
    best.model.dispose();
    const resumed = await lastValueFrom(trainPipeline({ ...opts, epochs: 2, resume: true }).pipe(toArray()));
    expect(resumed.at(-1)).toMatchObject({ type: 'train.end', reason: 'completed', steps: 4 });
    const again = await loadCheckpoint(join(outDir, 'last'));
    expect(again.trainerState!.averaging!.updates).toBe(4);
    again.model.dispose();
    await sleep(50);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('with workers: 2, each step is computed on two threads; resuming restarts the worker', async () => {
    const outDir = join(root, 'parallel');
    const before = tf.memory().numTensors;
    const events = await lastValueFrom(trainPipeline({ ...base(), outDir, workers: 2 }).pipe(toArray()));
    expect(events[0]).toMatchObject({ type: 'train.start', workers: 2 });
    expect(of(events, 'train.step').every((s) => Number.isFinite(s.loss) && s.batchSize === 4)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'train.end', reason: 'completed', steps: 4 });
    const resumed = await lastValueFrom(trainPipeline({ ...base(), outDir, workers: 2, resume: true, epochs: 3 }).pipe(toArray()));
    expect(resumed.at(-1)).toMatchObject({ type: 'train.end', reason: 'completed', steps: 6 });
    await sleep(50); // teardown disposes the model after the last event
    expect(tf.memory().numTensors).toBe(before);
  });
});
