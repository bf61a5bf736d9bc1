import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { banSpecialTokens, banTokens, beamSearch, lengthPenalty, type StepInfo } from '../../src/decoding/index.js';
import { ShowAttendTell } from '../../src/model/index.js';
import { decodingFixture, fixedDistribution, referenceDecode, tinyVocab, withStrongMemory } from '../model/helpers.js';

const vocab = tinyVocab();
let model: ShowAttendTell;
let feats: tf.Tensor3D;

beforeAll(async () => {
  await initBackend();
  ({ model, feats } = decodingFixture(vocab));
});

afterAll(() => {
  feats.dispose();
  model.dispose();
});

describe('beamSearch', () => {
  it('with k = 1 equals an independently written greedy decode', async () => {
    const results = await beamSearch(model, feats, vocab, { beamSize: 1, maxSteps: 12 });
    // The fixture must exercise both outcomes and differ between images, or the comparison proves little.
    expect(new Set(results.map((r) => r.best.ids.join(','))).size).toBeGreaterThan(1);
    expect(results.some((r) => r.best.finished)).toBe(true);
    expect(results.some((r) => !r.best.finished)).toBe(true);
    for (let i = 0; i < 5; i++) {
      const g = tf.tidy(() => referenceDecode(model, tf.slice(feats, [i, 0, 0], [1, -1, -1]), vocab, 12, [], false));
      expect(results[i]!.best.ids).toEqual(g.ids);
      expect(results[i]!.best.logProb).toBeCloseTo(g.logProb, 3);
      expect(results[i]!.best.finished).toBe(g.ids.at(-1) === vocab.endId);
    }
  });

  it('with k = 1 and the deep output (context readout) still equals the greedy decode', async () => {
    const deep = ShowAttendTell.create({ ...model.config, deepOutput: true }, { seed: 11 });
    const results = await beamSearch(deep, feats, vocab, { beamSize: 1, maxSteps: 12 });
    const plain = await beamSearch(model, feats, vocab, { beamSize: 1, maxSteps: 12 });
    // The context path changes the scores: the comparison below is not the plain model's again.
    expect(results.map((r) => r.best.logProb)).not.toEqual(plain.map((r) => r.best.logProb));
    for (let i = 0; i < 5; i++) {
      const g = tf.tidy(() => referenceDecode(deep, tf.slice(feats, [i, 0, 0], [1, -1, -1]), vocab, 12, [], false));
      expect(results[i]!.best.ids).toEqual(g.ids);
      expect(results[i]!.best.logProb).toBeCloseTo(g.logProb, 3);
    }
    deep.dispose();
  });

  it('with attention memory: k = 1 equals the greedy decode, and every k = 3 hypothesis carries its own memory', async () => {
    const mem = withStrongMemory(model);
    const greedyResults = await beamSearch(mem, feats, vocab, { beamSize: 1, maxSteps: 12 });
    const plain = await beamSearch(model, feats, vocab, { beamSize: 1, maxSteps: 12 });
    expect(greedyResults.map((r) => r.best.logProb)).not.toEqual(plain.map((r) => r.best.logProb));
    const before = tf.memory().numTensors;
    const beams = await beamSearch(mem, feats, vocab, { beamSize: 3, maxSteps: 8, returnAlternatives: 3 });
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < 5; i++) {
      const one = tf.slice(feats, [i, 0, 0], [1, -1, -1]);
      const g = tf.tidy(() => referenceDecode(mem, one, vocab, 12, [], false));
      expect(greedyResults[i]!.best.ids).toEqual(g.ids);
      expect(greedyResults[i]!.best.logProb).toBeCloseTo(g.logProb, 3);
      // Rescoring each hypothesis alone gives its log-prob only if the beam reordered the memory with it.
      for (const hyp of beams[i]!.alternatives) {
        expect(tf.tidy(() => referenceDecode(mem, one, vocab, 8, hyp.ids, false)).logProb).toBeCloseTo(hyp.logProb, 3);
      }
      one.dispose();
    }
    expect(new Set(beams.flatMap((r) => r.alternatives.map((h) => h.ids.join(',')))).size).toBeGreaterThan(5);
    mem.dispose();
  });

  it('gives each image the same result batched as alone', async () => {
    const batched = await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 10, returnAlternatives: 3 });
    for (let i = 0; i < 5; i++) {
      const one = tf.slice(feats, [i, 0, 0], [1, -1, -1]);
      const [alone] = await beamSearch(model, one, vocab, { beamSize: 3, maxSteps: 10, returnAlternatives: 3 });
      one.dispose();
      expect(alone!.alternatives.map((h) => h.ids)).toEqual(batched[i]!.alternatives.map((h) => h.ids));
    }
  });

  it('returns alternatives sorted by score, one attention map (summing to 1) per emitted token, within the step cap', async () => {
    const results = await beamSearch(model, feats, vocab, { beamSize: 4, maxSteps: 6, returnAlternatives: 4 });
    expect(results).toHaveLength(5);
    for (const r of results) {
      expect(r.gridSize).toBe(4);
      expect(r.alternatives.length).toBeGreaterThan(1);
      expect(r.best).toBe(r.alternatives[0]);
      expect(r.caption).toBe(r.best.words.join(' '));
      const finished = r.alternatives.filter((h) => h.finished);
      const finishedScores = finished.map((h) => h.score);
      expect(finishedScores).toEqual([...finishedScores].sort((a, b) => b - a));
      for (const h of r.alternatives) {
        expect(h.ids.length).toBeLessThanOrEqual(6);
        expect(h.attention).toHaveLength(h.ids.length);
        expect(h.finished).toBe(h.ids.at(-1) === vocab.endId);
        expect(h.score).toBe(h.logProb);
        for (const map of h.attention) {
          expect(map).toHaveLength(16);
          expect(map.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
        }
      }
    }
  });

  it('does not leak tensors and never disposes its input', async () => {
    await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 5 });
    const before = tf.memory().numTensors;
    await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 5 });
    expect(tf.memory().numTensors).toBe(before);
    expect(feats.isDisposed).toBe(false);
  });

  it('returns the best unfinished hypothesis, flagged, when nothing ends before the cap', async () => {
    const m = ShowAttendTell.create(model.config, { seed: 5 });
    tf.tidy(() => {
      const bias = m.decoder.fcBias.arraySync() as number[];
      bias[vocab.endId] = -1e9;
      m.decoder.fcBias.assign(tf.tensor1d(bias));
    });
    const results = await beamSearch(m, feats, vocab, { beamSize: 3, maxSteps: 7, returnAlternatives: 3 });
    for (const r of results) {
      expect(r.best.finished).toBe(false);
      expect(r.best.ids).toHaveLength(7);
      expect(r.alternatives).toHaveLength(3);
      expect(r.alternatives.map((h) => h.score)).toEqual([...r.alternatives.map((h) => h.score)].sort((a, b) => b - a));
    }
    m.dispose();
  });

  it('bare, emits whatever the model ranks first, <pad> and <start> included, as the reference does', async () => {
    const m = ShowAttendTell.create(model.config, { seed: 5 });
    fixedDistribution(m, new Map([[vocab.padId, 5], [vocab.startId, 4], [vocab.idOf('red'), 1], [vocab.endId, 0]]));
    const results = await beamSearch(m, feats, vocab, { beamSize: 2, maxSteps: 4, returnAlternatives: 2 });
    for (const r of results) expect(r.best.ids[0]).toBe(vocab.padId);
    m.dispose();
  });

  it('with the banSpecialTokens processor never emits <pad> or <start>, so each word has its own attention map', async () => {
    const m = ShowAttendTell.create(model.config, { seed: 5 });
    const red = vocab.idOf('red');
    fixedDistribution(m, new Map([[vocab.padId, 5], [vocab.startId, 4], [red, 1], [vocab.endId, 0]]));
    const results = await beamSearch(m, feats, vocab, { beamSize: 2, maxSteps: 4, returnAlternatives: 2 }, { logitsProcessors: [banSpecialTokens(vocab)] });
    for (const r of results) {
      for (const h of r.alternatives) {
        expect(h.ids).not.toContain(vocab.padId);
        expect(h.ids).not.toContain(vocab.startId);
        expect(h.attention).toHaveLength(h.ids.length);
        expect(h.words).toHaveLength(h.finished ? h.ids.length - 1 : h.ids.length);
      }
      // <pad> and <start> had the highest logits; the best non-banned continuation is taken instead.
      expect(r.alternatives.some((h) => h.ids[0] === red)).toBe(true);
    }
    m.dispose();
  });

  it('ranks by summed log-prob by default and by logProb / length^a with a length penalty', async () => {
    const m = ShowAttendTell.create(model.config, { seed: 5 });
    const a = vocab.idOf('a');
    // p(<end>) > p(a) > p(others) at every step: step 1 ends one hypothesis ([<end>]) and keeps [a];
    // step 2 ends [a, <end>].
    fixedDistribution(m, new Map([[vocab.endId, Math.log(0.3)], [a, Math.log(0.25)], [vocab.idOf('red'), Math.log(0.2)]]));
    const plain = await beamSearch(m, feats, vocab, { beamSize: 2, maxSteps: 5, returnAlternatives: 2 });
    expect(plain[0]!.alternatives.map((h) => h.ids)).toEqual([[vocab.endId], [a, vocab.endId]]);
    expect(plain[0]!.best.logProb).toBeCloseTo(Math.log(0.3 / 0.75), 4);
    const penalised = await beamSearch(m, feats, vocab, { beamSize: 2, maxSteps: 5, returnAlternatives: 2 }, { rescorers: [lengthPenalty(2)] });
    const best = penalised[0]!.best;
    expect(best.ids).toEqual([a, vocab.endId]);
    expect(best.score).toBeCloseTo(best.logProb / 4, 5);
    expect(best.words).toEqual(['a']);
    m.dispose();
  });

  it('rejects bad options with the option named', async () => {
    await expect(beamSearch(model, feats, vocab, { beamSize: 0, maxSteps: 5 })).rejects.toThrow(/beamSize/);
    await expect(beamSearch(model, feats, vocab, { beamSize: 2, maxSteps: 0 })).rejects.toThrow(/maxSteps/);
  });
});

describe('beamSearch hooks', () => {
  it('runs the logits processors in order at every step, with each row\'s history, and prunes by their output', async () => {
    const plain = await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 6, returnAlternatives: 3 });
    const banned = plain[0]!.best.ids[0]!;
    const seen: Array<{ step: number; histories: Array<readonly number[] | null> }> = [];
    const order: string[] = [];
    const spy = {
      process: (logProbs: tf.Tensor2D, info: StepInfo) => {
        order.push('spy');
        seen.push({ step: info.step, histories: Array.from({ length: logProbs.shape[0] }, (_, r) => info.tokens(r)) });
        return logProbs;
      },
    };
    const ban = banTokens([banned], vocab.size);
    const first = { process: (logProbs: tf.Tensor2D, info: StepInfo) => (order.push('ban'), ban.process(logProbs, info)) };
    const results = await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 6, returnAlternatives: 3 }, { logitsProcessors: [first, spy] });
    for (const r of results) for (const h of r.alternatives) expect(h.ids.slice(0, -1)).not.toContain(banned);
    expect(order.slice(0, 4)).toEqual(['ban', 'spy', 'ban', 'spy']);
    // Step 1: only slot 0 of each image holds a hypothesis (the empty one); the other slots hold none.
    expect(seen[0]!.step).toBe(1);
    expect(seen[0]!.histories.slice(0, 3)).toEqual([[], null, null]);
    // Step 2: each live row's history is one word long, and none is the banned word.
    expect(seen[1]!.step).toBe(2);
    for (const hist of seen[1]!.histories) if (hist) expect(hist).toHaveLength(1);
    expect(seen[1]!.histories.filter(Boolean).flat()).not.toContain(banned);
  });

  it('ranks the finished hypotheses by the re-scorers\' scores, applied in order, and keeps logProb', async () => {
    const opts = { beamSize: 3, maxSteps: 8, returnAlternatives: 10 };
    const plain = await beamSearch(model, feats, vocab, opts);
    const calls: number[] = [];
    // Longest first, then a constant shift: the second re-scorer sees the first one's scores.
    const longest = { rescore: (image: number, hs: readonly { ids: number[] }[]) => (calls.push(image), hs.map((h) => h.ids.length)) };
    const shift = { rescore: (_image: number, hs: readonly { score: number }[]) => hs.map((h) => h.score + 100) };
    const results = await beamSearch(model, feats, vocab, opts, { rescorers: [longest, shift] });
    expect(results.map((r) => r.alternatives.length)).toEqual(plain.map((r) => r.alternatives.length));
    results.forEach((r, i) => {
      const done = r.alternatives.filter((h) => h.finished);
      for (const h of done) expect(h.score).toBe(h.ids.length + 100);
      for (const h of r.alternatives.filter((a) => !a.finished)) expect(h.score).toBe(h.logProb);
      if (done.length > 0) {
        expect(r.best.ids.length).toBe(Math.max(...done.map((h) => h.ids.length)));
        expect(calls).toContain(i);
      }
      const same = (hs: typeof r.alternatives) => hs.map((h) => `${h.ids.join()}:${h.logProb.toFixed(5)}`).sort();
      expect(same(r.alternatives)).toEqual(same(plain[i]!.alternatives));
    });
  });

  it('does not leak tensors with processors and re-scorers', async () => {
    const hooks = { logitsProcessors: [banSpecialTokens(vocab)], rescorers: [lengthPenalty(1)] };
    await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 5 }, hooks);
    const before = tf.memory().numTensors;
    await beamSearch(model, feats, vocab, { beamSize: 3, maxSteps: 5 }, hooks);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a re-scorer that returns the wrong number of scores, and bad processor arguments', async () => {
    await expect(beamSearch(model, feats, vocab, { beamSize: 2, maxSteps: 8 }, { rescorers: [{ rescore: () => [] }] })).rejects.toThrow(/returned 0 scores/);
    expect(() => banTokens([vocab.size], vocab.size)).toThrow(/outside the vocabulary/);
    expect(() => lengthPenalty(-1)).toThrow(/lengthPenalty must be >= 0/);
  });
});
