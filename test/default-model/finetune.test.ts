import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, tap, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { generateSynthetic, loadKarpathy, type KarpathyDataset } from '../../src/data/index.js';
import { loadCheckpoint } from '../../src/model/index.js';
import { selfCriticalTrain } from '../../pipelines/self-critical.js';
import { runCli } from '../cli/run-cli.js';

const shipped = fileURLToPath(new URL('../../models/default', import.meta.url));
const repo = fileURLToPath(new URL('../../', import.meta.url));

/** Every weight of a checkpoint by name. */
async function weightsOf(dir: string): Promise<Map<string, Float32Array>> {
  const { model } = await loadCheckpoint(dir);
  try {
    return new Map(model.namedWeights().map(({ name, variable }) => [name, variable.dataSync().slice() as Float32Array]));
  } finally {
    model.dispose();
  }
}

describe('self-critical fine-tuning of the shipped model', () => {
  let root: string;
  let data: string;
  let dataset: KarpathyDataset;

  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'finetune-'));
    data = join(root, 'data');
    await generateSynthetic({ outDir: data, count: 200, seed: 4242 }); // 160 train, 20 val, 20 test scenes
    dataset = await loadKarpathy(join(data, 'dataset.json'), join(data, 'images'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('captioner finetune validates, steps, saves the best model with its detectors and encoder untouched, and leaves the start alone', async () => {
    const out = join(root, 'tuned');
    const shippedWeights = await readFile(join(shipped, 'weights.bin'));
    const r = await runCli(['finetune', '--model', shipped, '--out', out, '--data', data, '--max-steps', '4', '--batch-size', '4', '--validate-every', '2', '--val-limit', '10', '--lr', '1e-4']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/step 0 validation: BLEU-4 \d+\.\d\d \(best so far, saved\)/);
    expect(r.stdout).toMatch(/step 2 validation: BLEU-4/);
    expect(r.stdout).toMatch(/stopped \(max-steps\) after 4 steps/);
    expect(r.stdout).toContain(`fine-tuned model: ${out}`);
    const tuned = await loadCheckpoint(out);
    const start = await loadCheckpoint(shipped);
    try {
      const sc = tuned.meta.selfCritical as { step: number; valBleu4: number; reward: string };
      expect([0, 2, 4]).toContain(sc.step);
      expect(sc.reward).toBe('BLEU-4 against the best-matching reference');
      // The counting calibration and the rest of the config carry over: the detectors did not move.
      expect(tuned.model.config).toEqual(start.model.config);
      expect(tuned.vocab.toJSON()).toEqual(start.vocab.toJSON());
    } finally {
      tuned.model.dispose();
      start.model.dispose();
    }
    const before = await weightsOf(shipped);
    const after = await weightsOf(out);
    const frozen = [...before.keys()].filter((name) => !name.startsWith('decoder/') || /detector|phrase/.test(name));
    expect(frozen.length).toBeGreaterThan(4);
    for (const name of frozen) expect(after.get(name), name).toEqual(before.get(name));
    expect((await readFile(join(shipped, 'weights.bin'))).equals(shippedWeights)).toBe(true);
  }, 240_000);

  it('stops after the step in progress when aborted, validating it, with the best of the two saved', async () => {
    const abort = new AbortController();
    const out = join(root, 'aborted');
    const events = await lastValueFrom(
      selfCriticalTrain({ modelDir: shipped, outDir: out, dataset, batchSize: 4, candidates: 3, valLimit: 6, signal: abort.signal }).pipe(
        tap((e) => e.kind === 'step' && abort.abort()),
        toArray(),
      ),
    );
    // The step in progress finishes and is validated (validateEvery is 100), then the run ends.
    expect(events.map((e) => e.kind)).toEqual(['validation', 'step', 'validation', 'done']);
    const step = events[1]!;
    if (step.kind !== 'step') throw new Error('expected a step');
    expect(step.reward).toBeGreaterThan(0);
    expect(step.reward).toBeLessThanOrEqual(1);
    expect(events[2]).toMatchObject({ kind: 'validation', step: 1 });
    const done = events[3]!;
    expect(done).toMatchObject({ kind: 'done', steps: 1, reason: 'aborted' });
    if (done.kind !== 'done') throw new Error('expected done');
    expect((await loadCheckpoint(out).then((c) => (c.model.dispose(), c.meta))).selfCritical).toMatchObject({ step: done.bestStep });
    expect(tf.memory().numTensors).toBeLessThan(50); // the model, trainer and search disposed their tensors
  }, 120_000);

  it('on two threads searches, rewards and steps as on one: the same first step, and a second that follows it', async () => {
    const run = (threads: number) =>
      lastValueFrom(selfCriticalTrain({ modelDir: shipped, outDir: join(root, `threads-${threads}`), dataset, batchSize: 6, candidates: 3, maxSteps: 2, valLimit: 4, threads }).pipe(toArray()));
    const steps = (events: Awaited<ReturnType<typeof run>>) => events.flatMap((e) => (e.kind === 'step' ? [e] : []));
    const [one, two] = [steps(await run(1)), steps(await run(2))];
    expect(two).toHaveLength(2);
    // Step 1 starts from the same weights: each image's captions and rewards are the same on either
    // thread (the mean reward summed shard by shard, so equal up to the order of a float sum).
    expect(two[0]!.reward).toBeCloseTo(one[0]!.reward, 12);
    expect(two[0]!.rows).toBe(one[0]!.rows);
    expect(two[0]!.rows).toBeGreaterThan(0);
    expect(two[0]!.loss).toBeCloseTo(one[0]!.loss, 5);
    // Step 2 starts from weights updated with the workers' gradients (a rounding apart from one thread's).
    expect(two[1]!.reward).toBeCloseTo(one[1]!.reward, 3);
    expect(tf.memory().numTensors).toBeLessThan(50);
  }, 240_000);

  it('steps on a training split smaller than one batch', async () => {
    const few = { name: 'few', images: [...dataset.images.filter((im) => im.split === 'train').slice(0, 3), ...dataset.images.filter((im) => im.split === 'val').slice(0, 4)] };
    const events = await lastValueFrom(selfCriticalTrain({ modelDir: shipped, outDir: join(root, 'few'), dataset: few, batchSize: 16, candidates: 3, maxSteps: 2 }).pipe(toArray()));
    expect(events.filter((e) => e.kind === 'step').map((e) => (e.kind === 'step' ? e.epoch : -1))).toEqual([0, 1]);
    expect(events.at(-1)).toMatchObject({ kind: 'done', steps: 2, reason: 'max-steps' });
  }, 120_000);

  it('captioner finetune on SIGINT finishes the step in progress, validates it and exits 0, saying so', async () => {
    const out = join(root, 'interrupted');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'finetune', '--model', shipped, '--out', out, '--data', data, '--max-steps', '1000', '--batch-size', '4', '--val-limit', '6'], {
      cwd: repo, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/step 0 validation/.test(stdout) && !child.killed) child.kill('SIGINT');
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    expect(stderr).toContain('SIGINT: finishing the step in progress, then validating it (send SIGINT again to exit at once)');
    expect(stdout).toMatch(/stopped \(aborted\) after 1 steps/);
    expect(stdout).toContain(`fine-tuned model: ${out}`);
  }, 120_000);

  it('refuses options and paths that cannot work, naming them', async () => {
    const same = await runCli(['finetune', '--model', shipped, '--out', shipped, '--data', data, '--max-steps', '1']);
    expect(same.code).toBe(1);
    expect(same.stderr).toContain(`--out ${shipped} is the --model directory`);
    const endless = await runCli(['finetune', '--model', shipped, '--out', join(root, 'x'), '--data', data]);
    expect(endless.code).toBe(1);
    expect(endless.stderr).toContain('pass --max-steps N or --max-minutes M');
    const missing = await runCli(['finetune', '--model', join(root, 'nope'), '--out', join(root, 'y'), '--data', data, '--max-steps', '1']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(join(root, 'nope'));
    await expect(lastValueFrom(selfCriticalTrain({ modelDir: shipped, outDir: join(root, 'z'), dataset, candidates: 1 }))).rejects.toThrow(/candidates must be >= 2/);
  }, 120_000);
});
