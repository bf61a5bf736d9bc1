import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { captionFeatures } from '../../src/decoding/index.js';
import { PHRASE_RERANK_WEIGHT, ShowAttendTell, defaultModelConfig, detectorAgreement, detectorViews, phraseIndex, type DetectorView } from '../../src/model/index.js';
import { phraseLogits } from '../../src/model/loss.js';
import { makeBeamsDiverse, noise, tinyVocab } from './helpers.js';

const vocab = tinyVocab();
const id = (w: string) => vocab.idOf(w);
let model: ShowAttendTell;
let plain: ShowAttendTell;
let feats: tf.Tensor3D;

const config = (wordDetector: boolean) =>
  defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'precomputed' }, encoderDim: 32, gridSize: 4, attentionDim: 16, embedDim: 16, decoderDim: 32, wordDetector });

beforeAll(async () => {
  await initBackend();
  model = ShowAttendTell.create(config(true), { seed: 11 });
  plain = ShowAttendTell.create(config(false), { seed: 11 });
  for (const m of [model, plain]) makeBeamsDiverse(m, vocab);
  feats = tf.tidy(() => tf.mul(tf.tensor3d(noise(5 * 16 * 32, 4), [5, 16, 32]), 8));
});

afterAll(() => {
  tf.dispose([feats]);
  model.dispose();
  plain.dispose();
});

/** A detector that is sure `present` is in every image and unsure (P = 0.5) of every other word. */
function detectorSure(present: string): void {
  tf.tidy(() => {
    model.decoder.detectorKernel!.assign(tf.zerosLike(model.decoder.detectorKernel!));
    // 16 cells of softplus(b) = ln 2 / 16 each: 1 - exp(-ln 2) = 0.5.
    const bias = new Float32Array(vocab.size).fill(Math.log(Math.expm1(Math.LN2 / 16)));
    bias[id(present)] = 5;
    model.decoder.detectorBias!.assign(tf.tensor1d(bias));
  });
}

describe('detector re-ranking', () => {
  it('scores agreement from the confident words only: log P for those named, log(1 - P) for those left out', () => {
    const p = new Float32Array(vocab.size).fill(0.5);
    p[id('red')] = 0.95; // confidently present
    p[id('blue')] = 0.02; // confidently absent
    p[id('green')] = 0.9999; // present, beyond the 1e-3 floor when left out
    p[vocab.endId] = 0.99; // special tokens never count
    p[vocab.startId] = 0.01;
    // One cell, unsure of everything: no two confident words are adjacent here, so cells do not matter.
    const view: DetectorView = { presence: p, cells: new Float32Array(vocab.size).fill(0.5) };
    const red = detectorAgreement([id('a'), id('red'), vocab.endId], view, vocab);
    expect(red).toBeCloseTo(Math.log(0.95) + Math.log(0.98) + Math.log(1e-3), 6);
    const blueGreen = detectorAgreement([id('blue'), id('green'), vocab.endId], view, vocab);
    expect(blueGreen).toBeCloseTo(Math.log(0.05) + Math.log(0.02) + Math.log(0.9999), 6);
    // A stricter confidence ignores 'red' (0.95 < 0.96).
    expect(detectorAgreement([id('blue'), id('green')], view, vocab, 0.96)).toBeCloseTo(Math.log(0.02) + Math.log(0.9999), 6);
    expect(() => detectorAgreement([], view, vocab, 0.5)).toThrow(/confidence/);
  });

  it('charges two adjacent confident words that no one cell shows together, and nothing when one cell shows both', () => {
    const presence = new Float32Array(vocab.size).fill(0.5);
    presence[id('red')] = 0.95;
    presence[id('circle')] = 0.95;
    presence[id('square')] = 0.9;
    // Two cells: a red square in cell 0, a circle of no clear colour in cell 1.
    const cells = new Float32Array(2 * vocab.size).fill(0.5);
    const cell = (i: number, w: string, p: number) => (cells[i * vocab.size + id(w)] = p);
    for (const [i, w, p] of [[0, 'red', 0.9], [0, 'circle', 0.1], [0, 'square', 0.8], [1, 'red', 0.1], [1, 'circle', 0.9], [1, 'square', 0.1]] as const) cell(i, w, p);
    const view = { presence, cells };
    // "red circle": the best cell for both has 0.09 < 0.2; the square is left out.
    expect(detectorAgreement([id('red'), id('circle'), vocab.endId], view, vocab)).toBeCloseTo(2 * Math.log(0.95) + Math.log(0.1) + 0.3 * Math.log(0.09 / 0.2), 6);
    // "red square": cell 0 shows both (0.72): no pair cost; the circle is left out.
    expect(detectorAgreement([id('red'), id('square'), vocab.endId], view, vocab)).toBeCloseTo(Math.log(0.95) + Math.log(0.05) + Math.log(0.9), 6);
    // "a red circle": 'a' is not confident, so only the red-circle pair counts.
    expect(detectorAgreement([id('a'), id('red'), id('circle')], view, vocab)).toBeCloseTo(2 * Math.log(0.95) + Math.log(0.1) + 0.3 * Math.log(0.09 / 0.2), 6);
  });

  it('charges each named phrase the phrase detector is sure is absent, once, and nothing for the others', () => {
    const presence = new Float32Array(vocab.size).fill(0.5); // no confident words: only phrases count
    const cells = new Float32Array(vocab.size).fill(0.5);
    const list = [[id('red'), id('circle')], [id('blue'), id('circle')], [id('red'), id('square')]] as const;
    const view: DetectorView = { presence, cells, phrases: { presence: Float32Array.from([0.05, 0.5, 0.97]), find: phraseIndex(list) } };
    const caption = (...ws: string[]) => [...ws.map(id), vocab.endId];
    // "red circle" is confidently absent (0.05), named twice: charged once.
    expect(detectorAgreement(caption('a', 'red', 'circle', 'a', 'red', 'circle'), view, vocab)).toBeCloseTo(PHRASE_RERANK_WEIGHT * Math.log(0.05), 6);
    // "blue circle" is unsure, "red square" present: no cost, and leaving a phrase out costs nothing.
    expect(detectorAgreement(caption('a', 'blue', 'circle', 'a', 'red', 'square'), view, vocab)).toBe(0);
    expect(detectorAgreement(caption('a', 'green', 'square'), view, vocab)).toBe(0);
    // Beside a phrase detector, two confident words that no one cell shows together cost no pair term.
    const sure = Float32Array.from(presence);
    sure[id('red')] = sure[id('square')] = 0.99;
    const apart = new Float32Array(2 * vocab.size).fill(0.5);
    apart[id('red')] = apart[vocab.size + id('square')] = 0.9;
    apart[id('square')] = apart[vocab.size + id('red')] = 0.1;
    const words = Math.log(0.99) * 2;
    expect(detectorAgreement(caption('red', 'square'), { ...view, presence: sure, cells: apart }, vocab)).toBeCloseTo(words, 6);
    expect(detectorAgreement(caption('red', 'square'), { presence: sure, cells: apart }, vocab)).toBeCloseTo(words + 0.3 * Math.log(0.09 / 0.2), 6);
  });

  it('gives a model with a phrase detector the noisy-OR presence of every phrase, without leaking tensors', () => {
    const phrases: Array<[number, number]> = [[id('red'), id('circle')], [id('a'), id('blue')]];
    const withPhrases = ShowAttendTell.create({ ...config(true), phrases }, { seed: 11 });
    const before = tf.memory().numTensors;
    const views = detectorViews(withPhrases, feats);
    expect(tf.memory().numTensors).toBe(before);
    const z = tf.tidy(() => phraseLogits(withPhrases, feats).arraySync());
    const softplus = (x: number) => Math.log1p(Math.exp(x));
    for (const [b, q] of [[0, 0], [3, 1]] as const) {
      const s = z[b]!.reduce((sum, cell) => sum + softplus(cell[q]!), 0);
      expect(views[b]!.phrases!.presence[q]).toBeCloseTo(1 - Math.exp(-s), 5);
    }
    expect(views[0]!.phrases!.find(id('a'), id('blue'))).toBe(1);
    expect(detectorViews(model, feats)[0]!.phrases).toBeUndefined();
    withPhrases.dispose();
  });

  it('computes presence as the noisy-OR over cells that the detector is trained with, and each cell\'s own probability, without leaking tensors', () => {
    const before = tf.memory().numTensors;
    const views = detectorViews(model, feats);
    expect(tf.memory().numTensors).toBe(before);
    const z = tf.tidy(() => tf.add(tf.matMul(tf.reshape(feats, [5 * 16, 32]), model.decoder.detectorKernel as tf.Tensor2D), model.decoder.detectorBias!).arraySync()) as number[][];
    const softplus = (x: number) => Math.log1p(Math.exp(x));
    for (const [b, w] of [[0, 3], [4, 7]] as const) {
      let s = 0;
      for (let cell = 0; cell < 16; cell++) s += softplus(z[b * 16 + cell]![w]!);
      expect(views[b]!.presence[w]).toBeCloseTo(1 - Math.exp(-s), 5);
      expect(views[b]!.cells[5 * vocab.size + w]).toBeCloseTo(1 / (1 + Math.exp(-z[b * 16 + 5]![w]!)), 5);
    }
  });

  it('re-ranks the finished beams towards captions that name what the detector is sure of', async () => {
    const k = 4;
    const reference = await captionFeatures(model, feats, vocab, { beamSize: k, maxSteps: 6, returnAlternatives: 50, detectorRerank: 0 });
    // Pick, for one image, a word that some finished beam names but the reference's best does not.
    const image = reference.findIndex((r) => r.alternatives.some((a) => a.finished && a.words.some((w) => !r.best.words.includes(w))));
    expect(image).toBeGreaterThanOrEqual(0);
    const r0 = reference[image]!;
    const word = r0.alternatives.find((a) => a.finished && a.words.some((w) => !r0.best.words.includes(w)))!.words.find((w) => !r0.best.words.includes(w))!;
    for (const a of r0.alternatives) expect(a.score).toBe(a.logProb);

    detectorSure(word);
    const reranked = (await captionFeatures(model, feats, vocab, { beamSize: k, maxSteps: 6, returnAlternatives: 50, detectorRerank: 1 }))[image]!;
    expect(reranked.best.words).toContain(word);
    // Same hypotheses, new scores: logProb + 1 x agreement, sorted.
    const one = tf.slice(feats, [image, 0, 0], [1, -1, -1]) as tf.Tensor3D;
    const view = detectorViews(model, one)[0]!;
    one.dispose();
    expect(view.presence[id(word)]).toBeGreaterThan(0.99);
    expect(view.presence[id('a') === id(word) ? id('red') : id('a')]).toBeCloseTo(0.5, 4);
    expect(reranked.alternatives.map((a) => a.ids.join()).sort()).toEqual(r0.alternatives.map((a) => a.ids.join()).sort());
    for (const a of reranked.alternatives.filter((h) => h.finished)) expect(a.score).toBeCloseTo(a.logProb + detectorAgreement(a.ids, view, vocab), 4);
    const finishedScores = reranked.alternatives.filter((a) => a.finished).map((a) => a.score);
    expect(finishedScores).toEqual([...finishedScores].sort((x, y) => y - x));
  });

  it('is on by default for a model with a detector, off for one without, and refused for one without when asked', async () => {
    detectorSure('square');
    const opts = { beamSize: 3, maxSteps: 6, returnAlternatives: 3 };
    const byDefault = await captionFeatures(model, feats, vocab, opts);
    const explicit = await captionFeatures(model, feats, vocab, { ...opts, detectorRerank: 1 });
    expect(byDefault.map((r) => r.alternatives.map((a) => a.score))).toEqual(explicit.map((r) => r.alternatives.map((a) => a.score)));
    for (const r of await captionFeatures(plain, feats, vocab, opts)) for (const a of r.alternatives) expect(a.score).toBe(a.logProb);
    await expect(captionFeatures(plain, feats, vocab, { ...opts, detectorRerank: 1 })).rejects.toThrow(/detectorRerank needs a model trained with a word detector/);
    await expect(captionFeatures(model, feats, vocab, { ...opts, detectorRerank: -1 })).rejects.toThrow(/detectorRerank must be >= 0/);
  });
});
