import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { generateSynthetic, loadKarpathy, type KarpathyDataset } from '../../src/data/index.js';
import { loadCaptioner, readReranker, RERANKER_FILE } from '../../src/model/index.js';
import { evaluate } from '../../pipelines/evaluate.js';
import { trainReranker, type RerankerEvent } from '../../pipelines/train-reranker.js';

const shipped = fileURLToPath(new URL('../../models/default', import.meta.url));

describe('trainReranker on the shipped model', () => {
  let root: string;
  let modelDir: string;
  let data: KarpathyDataset;

  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'train-reranker-'));
    modelDir = join(root, 'model');
    await cp(shipped, modelDir, { recursive: true });
    await rm(join(modelDir, RERANKER_FILE), { force: true });
    const ds = await generateSynthetic({ outDir: join(root, 'data'), count: 240, seed: 4242 });
    data = await loadKarpathy(ds.jsonPath, ds.imageDir);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('learns from the candidates of training images, and the file it writes chooses at inference as it did in validation', async () => {
    const before = tf.memory().numTensors;
    const events = await lastValueFrom(
      trainReranker({ modelDir, dataset: { name: 'synthetic 4242', images: data.images }, trainImages: 150, valImages: 20, epochs: 4, ensemble: 2, threads: 2, writeEvenIfWorse: true }).pipe(toArray()),
    );
    expect(tf.memory().numTensors).toBe(before);
    const kinds = events.map((e) => (e.kind === 'pools' ? `pools ${e.split}` : e.kind));
    expect([...new Set(kinds)]).toEqual(['pools train', 'pools val', 'epoch', 'done']);
    const epochNumbers = events.flatMap((e) => (e.kind === 'epoch' ? [e.epoch] : []));
    expect([...new Set(epochNumbers)]).toEqual([1, 2, 3, 4]);
    const done = events.at(-1) as Extract<RerankerEvent, { kind: 'done' }>;
    const epochs = events.filter((e): e is Extract<RerankerEvent, { kind: 'epoch' }> => e.kind === 'epoch');
    // Two networks, from seeds 1 and 2; from the middle epoch on, each one's averaged weights are validated beside its live ones.
    expect(done.members.map((m) => m.seed)).toEqual([1, 2]);
    for (const member of [1, 2]) {
      const mine = epochs.filter((e) => e.member === member && e.members === 2);
      expect(mine.filter((e) => e.averaged).map((e) => e.epoch)).toEqual([2, 3, 4]);
      expect(done.members[member - 1]!.valBleu4).toBe(Math.max(...mine.map((e) => e.valBleu4)));
    }
    expect(done.candidatesPerImage).toBeGreaterThan(1);
    expect(done.written).toBe(join(modelDir, RERANKER_FILE));

    const reranker = await readReranker(modelDir);
    expect(reranker?.trained).toMatchObject({ trainImages: 150, valImages: 20, members: done.members, valBleu4: done.bestBleu4, modelValBleu4: done.baselineBleu4 });
    expect(reranker?.hidden).toBe(2 * 128); // the two networks side by side
    expect(reranker?.openings.length).toBeGreaterThan(0);
    // Bigrams seen 20 times among the ~1,000 training candidates are features; eval below proves inference counts them alike.
    expect(reranker?.bigrams.length).toBeGreaterThan(10);
    expect(reranker?.bigrams).toContain('<s> there');

    // The pools it learned from are the ones beam search builds: eval on the same val images scores what validation
    // did, with the two networks' mean score.
    const captioner = await loadCaptioner(modelDir);
    try {
      expect(captioner.model.reranker?.modelId).toBe(captioner.modelId);
      const valSet = { ...data, images: data.images.filter((im) => im.split === 'val').slice(0, 20) };
      const withIt = await evaluate({ captioner, dataset: valSet, split: 'val', beamSize: 4, backend: 'wasm' });
      expect(withIt.learnedRerank).toBe(true);
      expect(withIt.bleu.bleu4).toBeCloseTo(done.bestBleu4, 6);
      const without = await evaluate({ captioner, dataset: valSet, split: 'val', beamSize: 4, backend: 'wasm', learnedRerank: false });
      expect(without.learnedRerank).toBe(false);
      expect(without.bleu.bleu4).toBeCloseTo(done.baselineBleu4, 6);
    } finally {
      captioner.dispose();
    }
  }, 240_000);

  it('names a model directory that is not there', async () => {
    const events = trainReranker({ modelDir: join(root, 'missing'), dataset: { name: 'x', images: data.images } });
    await expect(lastValueFrom(events)).rejects.toThrow(/missing/);
  });
});
