import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import {
  CheckpointError,
  SCALAR_FEATURES,
  ShowAttendTell,
  beamSearch,
  defaultModelConfig,
  detectorViews,
  featureCount,
  loadCheckpoint,
  modelIdOf,
  openingCandidates,
  sampleCaptions,
  saveCheckpoint,
  updateCheckpointConfig,
  writeReranker,
  type Reranker,
} from '../../src/model/index.js';
import { makeBeamsDiverse, noise, tinyVocab } from './helpers.js';

const vocab = tinyVocab();
const id = (w: string) => vocab.idOf(w);
const phrases: Array<[number, number]> = [[id('red'), id('circle')], [id('a'), id('blue')]];
let model: ShowAttendTell;
let feats: tf.Tensor3D;
const OPENINGS = [['blue'], ['a', 'red']];

/** A re-ranker whose network only looks at one scalar feature: score = weight x that feature. */
function oneFeatureReranker(m: ShowAttendTell, feature: (typeof SCALAR_FEATURES)[number], weight: number, logProbWeight = 0): Reranker {
  const inputs = featureCount(vocab.size, phrases.length);
  const w1 = new Float32Array(inputs);
  w1[SCALAR_FEATURES.indexOf(feature)] = 1;
  return {
    modelId: modelIdOf(m),
    inputs,
    hidden: 1,
    mean: new Float32Array(inputs),
    std: new Float32Array(inputs).fill(1),
    w1,
    b1: Float32Array.from([100]), // keeps the one unit above zero, so relu passes the feature through
    w2: Float32Array.from([weight]),
    logProbWeight,
    openings: OPENINGS,
    bigrams: [],
    trained: {},
  };
}

/** A re-ranker whose network only counts one bigram of the caption: score = weight x its count. */
function bigramReranker(m: ShowAttendTell, bigram: string, weight: number): Reranker {
  const base = oneFeatureReranker(m, 'opened', weight);
  const inputs = base.inputs + 1;
  const w1 = new Float32Array(inputs);
  w1[inputs - 1] = 1;
  return { ...base, inputs, mean: new Float32Array(inputs), std: new Float32Array(inputs).fill(1), w1, bigrams: [bigram] };
}

beforeAll(async () => {
  await initBackend();
  const config = defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'precomputed' }, encoderDim: 32, gridSize: 4, attentionDim: 16, embedDim: 16, decoderDim: 32, wordDetector: true, phrases, countablePhrases: [0] });
  model = ShowAttendTell.create(config, { seed: 11 });
  makeBeamsDiverse(model, vocab);
  feats = tf.tidy(() => tf.mul(tf.tensor3d(noise(5 * 16 * 32, 4), [5, 16, 32]), 8));
});

afterAll(() => {
  tf.dispose([feats]);
  model.dispose();
});

describe('learned re-ranking in beam search', () => {
  it('completes each opening greedily, with an attention map per word', async () => {
    const views = detectorViews(model, feats);
    const before = tf.memory().numTensors;
    const pools = await openingCandidates(model, feats, vocab, OPENINGS, { maxSteps: 12, detectorRerank: 0, views });
    expect(tf.memory().numTensors).toBe(before);
    const greedy = await Promise.all(OPENINGS.map((o) => sampleCaptions(model, feats, vocab, { samples: 1, temperature: 0, maxSteps: 12, prefix: o.map(id), rng: () => 0 })));
    pools.forEach((pool, i) => {
      const finished = greedy.map((g) => g[i]![0]!).filter((c) => c.ids.at(-1) === vocab.endId);
      expect(pool.map((c) => c.ids)).toEqual(finished.map((c) => c.ids));
      for (const c of pool) {
        expect(c.opened).toBe(true);
        expect(c.attention).toHaveLength(c.ids.length);
        for (const map of c.attention) expect(map.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 4);
      }
    });
    expect(pools.flat().length).toBeGreaterThan(0);
  });

  it('chooses what the re-ranker scores best, from the beam and the openings, and leaks nothing', async () => {
    const plain = await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 12, returnAlternatives: 50 });
    try {
      // Preferring opened captions: every image whose openings finish must pick one of them.
      model.reranker = oneFeatureReranker(model, 'opened', 1);
      const before = tf.memory().numTensors;
      const reranked = await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 12, returnAlternatives: 50 });
      expect(tf.memory().numTensors).toBe(before);
      const pools = await openingCandidates(model, feats, vocab, OPENINGS, { maxSteps: 12, detectorRerank: 0, views: detectorViews(model, feats) });
      let opened = 0;
      reranked.forEach((r, i) => {
        const searched = plain[i]!.alternatives.filter((h) => h.finished).map((h) => h.words.join(' '));
        const completions = pools[i]!.map((c) => c.words.join(' '));
        if (searched.length === 0) {
          expect(r.best).toEqual(plain[i]!.best); // nothing finished: the beam's best unfinished, as without it
          return;
        }
        const novel = completions.filter((c) => !searched.includes(c));
        if (novel.length > 0) {
          expect(novel).toContain(r.caption);
          opened++;
        }
        expect(new Set(r.alternatives.map((h) => h.words.join(' ')))).toEqual(new Set([...searched, ...completions, ...plain[i]!.alternatives.filter((h) => !h.finished).map((h) => h.words.join(' '))]));
        for (let j = 1; j < r.alternatives.length; j++) if (r.alternatives[j]!.finished) expect(r.alternatives[j]!.score).toBeLessThanOrEqual(r.alternatives[j - 1]!.score);
      });
      expect(opened).toBeGreaterThan(0);
      // Preferring short captions: the shortest candidate wins.
      model.reranker = oneFeatureReranker(model, 'length', -1);
      const short = await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 12 });
      short.forEach((r, i) => {
        const finished = plain[i]!.alternatives.filter((h) => h.finished);
        if (finished.length === 0) return;
        const lengths = [...finished, ...pools[i]!].map((h) => h.ids.length);
        expect(r.best.ids.length).toBe(Math.min(...lengths));
      });
      // Preferring captions that open with "blue": the bigram "<s> blue" decides.
      model.reranker = bigramReranker(model, '<s> blue', 1);
      const blue = await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 12 });
      blue.forEach((r, i) => {
        const candidates = [...plain[i]!.alternatives.filter((h) => h.finished), ...pools[i]!];
        if (candidates.length > 0) expect(r.best.words[0] === 'blue').toBe(candidates.some((h) => h.words[0] === 'blue'));
      });
      expect(blue.some((r) => r.best.words[0] === 'blue')).toBe(true);
      // Switched off per search, the beam ranks as before.
      const off = await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 12, returnAlternatives: 50, learnedRerank: false });
      expect(off.map((r) => r.alternatives.map((h) => h.words))).toEqual(plain.map((r) => r.alternatives.map((h) => h.words)));
    } finally {
      model.reranker = undefined;
    }
    await expect(beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 12, learnedRerank: true })).rejects.toThrow(/learnedRerank needs a model with a learned re-ranker/);
  });
});

describe('a re-ranker beside a checkpoint', () => {
  it('is attached when it was trained for the model, refused when not, and dropped when the config changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reranker-ckpt-'));
    try {
      const ckpt = join(dir, 'model');
      await saveCheckpoint(ckpt, { model, vocab, preprocess: { imageSize: 16, mean: [0, 0, 0], std: [1, 1, 1] } });
      await writeReranker(ckpt, oneFeatureReranker(model, 'opened', 1));
      const loaded = await loadCheckpoint(ckpt);
      expect(loaded.model.reranker?.modelId).toBe(modelIdOf(model));
      expect(loaded.model.reranker?.openings).toEqual(OPENINGS);
      loaded.model.dispose();

      await writeReranker(ckpt, { ...oneFeatureReranker(model, 'opened', 1), modelId: '000000000000' });
      const refused = loadCheckpoint(ckpt);
      await expect(refused).rejects.toThrow(CheckpointError);
      await expect(refused).rejects.toThrow(/reranker\.json was trained for model 000000000000, not this one .*captioner rerank-train --model/);

      await writeReranker(ckpt, { ...oneFeatureReranker(model, 'opened', 1), openings: [['a', 'zebra']] });
      await expect(loadCheckpoint(ckpt)).rejects.toThrow(/reranker\.json opening "a zebra" has a word outside vocabulary\.json/);

      await writeReranker(ckpt, { ...oneFeatureReranker(model, 'opened', 1), bigrams: ['a red'] });
      await expect(loadCheckpoint(ckpt)).rejects.toThrow(/reranker\.json takes \d+ features, this model gives \d+/);
      const widened = oneFeatureReranker(model, 'opened', 1);
      await writeReranker(ckpt, { ...bigramReranker(model, 'a zebra', 1), modelId: widened.modelId });
      await expect(loadCheckpoint(ckpt)).rejects.toThrow(/reranker\.json bigram "a zebra" has a word outside vocabulary\.json/);

      await updateCheckpointConfig(ckpt, (c) => ({ ...c, countablePhrases: [0, 1] }));
      expect(await readdir(ckpt)).not.toContain('reranker.json');
      const recalibrated = await loadCheckpoint(ckpt);
      expect(recalibrated.model.reranker).toBeUndefined();
      recalibrated.model.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
