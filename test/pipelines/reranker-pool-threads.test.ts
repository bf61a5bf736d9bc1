import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBackend, initBackend } from '../../src/backend/index.js';
import { generateSynthetic, loadKarpathy } from '../../src/data/index.js';
import type { CaptionedImage } from '../../src/data/types.js';
import { loadCheckpoint, type LoadedCheckpoint } from '../../src/model/index.js';
import { PoolThreads } from '../../pipelines/reranker-pool-workers.js';

const shipped = fileURLToPath(new URL('../../models/default', import.meta.url));
const openings = [['there', 'are'], ['a'], ['two']];

describe('PoolThreads', () => {
  let root: string;
  let images: CaptionedImage[];
  let loaded: LoadedCheckpoint;

  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'pool-threads-'));
    const ds = await generateSynthetic({ outDir: join(root, 'data'), count: 14, seed: 5150 });
    images = (await loadKarpathy(ds.jsonPath, ds.imageDir)).images.slice(0, 10);
    loaded = await loadCheckpoint(shipped);
    loaded.model.reranker = undefined;
  });
  afterAll(async () => {
    loaded.model.dispose();
    await rm(root, { recursive: true, force: true });
  });

  const start = (threads: number, modelDir = shipped) =>
    PoolThreads.start({ threads, ...loaded, modelDir, backend: currentBackend()?.name ?? 'auto', beamSize: 3, maxSteps: 30, openings, chunk: 4 });

  it('builds on three threads the pools one thread builds, in the same order, and leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    const one = await start(1);
    const serial = await one.build(images);
    await one.dispose();

    const three = await start(3);
    try {
      expect(three.threads).toBe(3);
      const progress: number[] = [];
      // 10 images in chunks of 4 on 3 threads: shards of 4, 4 and 2, so every chunk is the one-thread build's.
      const parallel = await three.build(images, (done) => progress.push(done));
      expect(parallel.map((p) => p.references)).toEqual(serial.map((p) => p.references));
      expect(parallel.map((p) => p.words)).toEqual(serial.map((p) => p.words));
      expect(parallel.map((p) => p.scores)).toEqual(serial.map((p) => p.scores));
      expect(parallel.map((p) => p.rewards)).toEqual(serial.map((p) => p.rewards));
      expect(parallel.map((p) => p.features.map((f) => [...f]))).toEqual(serial.map((p) => p.features.map((f) => [...f])));
      expect(serial.every((p) => p.words.length > 1)).toBe(true);
      expect(progress.at(-1)).toBe(images.length);
      expect(Math.max(...progress)).toBe(images.length);

      const afterFirst = three.workerTensors;
      expect(afterFirst.every((n) => n > 0)).toBe(true); // each worker's model
      await three.build(images.slice(0, 3)); // one shard only: the workers get none
      await three.build(images);
      expect(three.workerTensors).toEqual(afterFirst);
    } finally {
      await three.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it('names the worker and the model directory when a worker cannot load the model', async () => {
    await expect(start(2, join(root, 'no-such-model'))).rejects.toThrow(/pool worker 1 could not start: .*no-such-model/);
  }, 60_000);

  it('fails the build with the worker that failed, naming its file, and stops this thread\'s shard before it returns', async () => {
    // Chunks of 4 on 2 threads: this thread builds images 0-7, the worker 8-9, the last of which is not there.
    const broken = [...images.slice(0, 9), { ...images[9]!, path: join(root, 'no-such-scene.png') }];
    const two = await start(2);
    try {
      const progress: number[] = [];
      await expect(two.build(broken, (done) => progress.push(done))).rejects.toThrow(/pool worker 1 failed on its shard: .*no-such-scene\.png/);
      const heard = progress.length;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(progress.length).toBe(heard); // nothing of the build goes on after it failed
    } finally {
      await two.dispose();
    }
  }, 60_000);

  it('fails a build that is aborted, and names why', async () => {
    const two = await start(2);
    try {
      const abort = new AbortController();
      const build = two.build(images, () => abort.abort(), abort.signal);
      await expect(build).rejects.toThrow(/abort/i);
    } finally {
      await two.dispose();
    }
  }, 60_000);
});
