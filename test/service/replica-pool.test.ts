import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareImage } from '../../src/data/preprocess.js';
import { coalesceLimit, ReplicaPool } from '../../src/runtime/replica-pool.js';
import { imageBytes, makeTinyModel, tempDir } from './helpers.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';

describe('ReplicaPool (real worker_threads, tiny model)', () => {
  let dir: string;
  let modelDir: string;
  let pool: ReplicaPool;
  beforeAll(async () => {
    dir = await tempDir('pool');
    modelDir = await makeTinyModel(dir);
    pool = await ReplicaPool.start({ modelDir, workers: 2, backend: SUITE_BACKEND });
  });
  afterAll(async () => {
    await pool?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const batch = async (n: number) =>
    Promise.all(Array.from({ length: n }, async (_, i) => prepareImage(await imageBytes(i), pool.info.preprocess)));

  it('loads the model in every replica and reports its info', () => {
    expect(pool.size).toBe(2);
    expect(pool.warm).toBe(true);
    expect(pool.info.backend).toBe(SUITE_BACKEND);
    expect(pool.info.preprocess.imageSize).toBe(32);
    expect(pool.info.modelId).toMatch(/^[0-9a-f]{12}$/);
  });

  it('captions batches as plain data, transferring the pixels', async () => {
    const images = await batch(3);
    const out = await pool.run(images, { beamSize: 2, maxSteps: 12, returnAlternatives: 2 });
    expect(images[0]!.pixels.length).toBe(0); // transferred to the worker
    expect(out.captions).toHaveLength(3);
    for (const c of out.captions) {
      expect(typeof c.caption).toBe('string');
      expect(c.attention.length).toBeGreaterThan(0);
      expect(c.attention[0]).toBeInstanceOf(Float32Array);
      expect(c.attention[0]!.length).toBe(16);
      expect(c.alternatives).toHaveLength(2);
    }
  });

  it('runs batches on both replicas at once and leaks no tensors over many batches', async () => {
    const beam = { beamSize: 2, maxSteps: 12 };
    // Both batches are ready before either is dispatched, so the second finds the first replica busy.
    const [a, b] = [await batch(2), await batch(2)];
    const first = await Promise.all([pool.run(a, beam), pool.run(b, beam)]);
    expect(new Set(first.map((o) => o.replica)).size).toBe(2);
    const baseline = pool.memory().perReplica;
    for (let i = 0; i < 10; i++) await Promise.all([pool.run(await batch(4), beam), pool.run(await batch(1), beam)]);
    expect(pool.memory().perReplica).toEqual(baseline);
  });

  it('fails the batch of a crashed replica and replaces the replica', async () => {
    const images = await batch(2);
    const running = pool.run(images, { beamSize: 3, maxSteps: 50 });
    const victim = (pool as unknown as { replicas: Array<{ current?: unknown; index: number }> }).replicas.findIndex((r) => r.current);
    await pool.killReplica(victim);
    await expect(running).rejects.toMatchObject({ name: 'ReplicaCrashError' });
    const deadline = Date.now() + 30_000;
    while (pool.size < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(pool.size).toBe(2);
    expect(pool.restartCount).toBe(1);
    const out = await pool.run(await batch(1), { beamSize: 1, maxSteps: 5 });
    expect(out.captions).toHaveLength(1);
  });

  it('merges batches that queued while the replica was busy, up to coalesceUpTo images', async () => {
    const single = await ReplicaPool.start({ modelDir, workers: 1, backend: SUITE_BACKEND, coalesceUpTo: 4 });
    try {
      const beam = { beamSize: 2, maxSteps: 12 };
      const [b0, b1, b2, b3, b4] = await Promise.all([batch(2), batch(1), batch(1), batch(1), batch(2)]);
      const outs = await Promise.all([b0!, b1!, b2!, b3!, b4!].map((b) => single.run(b, beam)));
      expect(outs.map((o) => o.modelBatchSize)).toEqual([2, 3, 3, 3, 2]);
      expect(outs.map((o) => o.captions.length)).toEqual([2, 1, 1, 1, 2]);
      expect(outs[3]!.waitMs).toBeGreaterThan(0);
    } finally {
      await single.dispose();
    }
  });

  it('takes coalesceUpTo as a function of the live replicas: the services merge four batches on a lone replica, none on several', async () => {
    expect([1, 2, 3].map(coalesceLimit(8))).toEqual([32, 8, 8]);
    const single = await ReplicaPool.start({ modelDir, workers: 1, backend: SUITE_BACKEND, coalesceUpTo: coalesceLimit(2) });
    try {
      const beam = { beamSize: 2, maxSteps: 12 };
      const batches = await Promise.all([batch(2), batch(2), batch(2), batch(2), batch(2), batch(2)]);
      const outs = await Promise.all(batches.map((b) => single.run(b, beam)));
      // The first runs alone; the five that queued behind it go as one call of 8 (4 x 2) and one of 2.
      expect(outs.map((o) => o.modelBatchSize)).toEqual([2, 8, 8, 8, 8, 2]);
    } finally {
      await single.dispose();
    }
  });

  it('rejects a model directory that does not exist, naming it', async () => {
    await expect(ReplicaPool.start({ modelDir: `${dir}/nope`, workers: 1, backend: SUITE_BACKEND })).rejects.toThrow(/nope/);
  });
});
