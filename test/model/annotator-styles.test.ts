import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { packBatch } from '../../operators/batch-examples.js';
import { epochExamples } from '../../pipelines/train-data.js';
import { initBackend } from '../../src/backend/index.js';
import { END, START, UNK, Vocabulary } from '../../src/data/vocabulary.js';
import { ShowAttendTell, Trainer, beamSearch, defaultModelConfig } from '../../src/model/index.js';
import { sampleCaptions } from '../../src/model/sample-captions.js';
import { styleReferences } from '../../src/model/self-critical.js';
import { createRng } from '../../src/model/random.js';
import { S, toyBatch } from './helpers.js';

const words = ['a', 'red', 'green', 'blue', 'yellow', 'square'];
const styled = (styles: number): Vocabulary => Vocabulary.build(words.map((w) => Array<string>(6).fill(w)), 5, styles);

beforeAll(async () => {
  await initBackend();
});

describe('annotator styles in the vocabulary', () => {
  it('append a start token per further style, encode a caption with its style and decode without it', () => {
    const v = styled(3);
    expect(v.words.slice(-5)).toEqual([UNK, START, END, '<start1>', '<start2>']);
    expect(v.styleCount).toBe(3);
    expect(v.startIds).toEqual([v.startId, v.idOf('<start1>'), v.idOf('<start2>')]);
    // The reference's ids keep their places: <start> and <end> are still V+2 and V+3.
    expect([v.startId, v.endId]).toEqual([words.length + 2, words.length + 3]);
    expect(v.encode(['a', 'red'], 2, 2).ids[0]).toBe(v.idOf('<start2>'));
    expect(v.encode(['a', 'red'], 2, 4).ids[0]).toBe(v.idOf('<start1>')); // the index wraps: style 4 % 3
    expect(v.decode(v.encode(['a', 'red'], 2, 1).ids)).toEqual(['a', 'red']);
    expect(v.startIds.every((id) => v.isStart(id)) && !v.isStart(v.endId)).toBe(true);
    expect(Vocabulary.fromJSON(JSON.parse(JSON.stringify(v))).startIds).toEqual(v.startIds);
    expect(() => Vocabulary.build([['a']], 0, 0)).toThrow(/styles/);
  });

  it('without styles every caption starts with <start>, whatever its index', () => {
    const v = styled(1);
    expect(v.startIds).toEqual([v.startId]);
    expect(v.encode(['a'], 1, 3).ids[0]).toBe(v.startId);
  });

  it("an epoch gives each example its caption's annotator as style (0 where the data set names none), and a batch each row's start token", () => {
    const captions = [['a', 'red'], ['a', 'green'], ['a', 'blue']];
    const images = [0, 1, 2, 3].map((i) => ({ id: String(i), path: `p${i}`, split: 'train' as const, captions, annotators: [2, 0, 1] }));
    for (const sampling of ['one-random', 'all'] as const) {
      const examples = epochExamples(images, 7, 0, sampling);
      for (const e of examples) expect(e.style).toBe([2, 0, 1][captions.indexOf(e.tokens)]);
      if (sampling === 'all') expect(examples.map((e) => e.style).sort()).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    }
    const unnamed = epochExamples(images.map(({ annotators: _, ...im }) => im), 7, 0, 'all');
    expect(unnamed.every((e) => e.style === 0)).toBe(true);
    // Weights by annotator: [3, 1, 0] draws annotator 0 about 3/4 of the time and annotator 2 never.
    const many = Array.from({ length: 2000 }, (_, i) => ({ ...images[0]!, id: String(i) }));
    const drawn = epochExamples(many, 7, 0, 'one-random', [3, 1, 0]).map((e) => e.style);
    expect(drawn.filter((s) => s === 0).length / 2000).toBeCloseTo(0.75, 1);
    expect(drawn).not.toContain(2);
    expect(() => epochExamples(many, 7, 0, 'one-random', [0, 0])).toThrow(/annotatorWeights/);
    const v = styled(3);
    const image = { pixels: new Float32Array(12), size: 2, sourceWidth: 2, sourceHeight: 2 };
    const batch = packBatch([0, 2, 1].map((style) => ({ id: String(style), tokens: ['a', 'red'], style, image })), v, 5);
    expect([0, 1, 2].map((i) => batch.captions[i * 4])).toEqual([v.startIds[0], v.startIds[2], v.startIds[1]]);
  });
});

describe('the self-critical reward of a model with annotator styles', () => {
  it("scores a caption searched in style 0 against annotator 0's references only, and against all without styles or annotators", () => {
    const image = { captions: [['x'], ['y'], ['z'], ['w']], annotators: [3, 0, 5, 1] };
    expect(styleReferences(image, 5)).toEqual([['y'], ['z']]); // annotators 0 and 5 (5 mod 5)
    expect(styleReferences(image, 5, 1)).toEqual([['w']]);
    expect(styleReferences(image, 5, 2)).toEqual(image.captions); // nobody wrote in style 2
    expect(styleReferences(image, 1)).toEqual(image.captions);
    expect(styleReferences({ captions: image.captions }, 5)).toEqual(image.captions);
  });
});

/** toyBatch's images with each row's caption in its annotator's wording: "a red square" (0) or "square red" (1). */
function styledToyBatch(v: Vocabulary, b: number, rng: () => number): ReturnType<typeof toyBatch> {
  const batch = toyBatch(b, rng);
  const captions = new Int32Array(b * 5);
  const lengths = new Int32Array(b);
  batch.colours.forEach((colour, i) => {
    const { ids, length } = i % 2 === 0 ? v.encode(['a', colour, 'square'], 3, 0) : v.encode(['square', colour], 3, 1);
    captions.set(ids, i * 5);
    lengths[i] = length;
  });
  return { ...batch, captions, lengths };
}

describe('a decoder trained with annotator styles', () => {
  it('captions in the wording of the style it starts from, and never emits a start token', async () => {
    const v = styled(2);
    const config = defaultModelConfig({ vocabSize: v.size, encoder: { kind: 'compact-cnn', channels: [8, 16] }, gridSize: 4, attentionDim: 16, embedDim: 16, decoderDim: 32, dropout: 0.1 });
    const model = ShowAttendTell.create(config, { seed: 4 });
    const trainer = new Trainer(model, { decoderLr: 3e-3, encoderLr: 3e-3, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1 });
    const rng = createRng(5);
    for (let i = 0; i < 200; i++) await trainer.step(styledToyBatch(v, 16, rng));
    const test = toyBatch(16, createRng(99));
    const images = tf.tensor4d(test.images, [16, S, S, 3]);
    const feats = model.encode(images);
    const plain = await beamSearch(model, feats, v, { beamSize: 3, maxSteps: 6 });
    const second = await beamSearch(model, feats, v, { beamSize: 3, maxSteps: 6, style: 1 });
    // A start token made likely must still never be emitted, by the search or by sampling.
    model.decoder.fcBias.assign(tf.tidy(() => tf.add(model.decoder.fcBias, tf.oneHot([v.startIds[1]!], v.size).reshape([v.size]).mul(50))));
    const drawn = await sampleCaptions(model, feats, v, { samples: 2, temperature: 1, maxSteps: 6, rng: createRng(3) });
    const forced = await beamSearch(model, feats, v, { beamSize: 3, maxSteps: 6 });
    await expect(beamSearch(model, feats, v, { beamSize: 1, maxSteps: 2, style: 2 })).rejects.toThrow(/style \(--style\) must be an integer from 0 to 1, the model.s annotator styles \(got 2\)/);
    tf.dispose([images, feats]);
    // The wording follows the start token on every image; the colour, which needs the image, on most.
    expect(plain.map((r) => r.caption.replace(/ (red|green|blue|yellow) /, ' C '))).toEqual(Array(16).fill('a C square'));
    expect(second.map((r) => r.caption.replace(/ (red|green|blue|yellow)$/, ' C'))).toEqual(Array(16).fill('square C'));
    expect(plain.filter((r, i) => r.caption === `a ${test.colours[i]} square`).length).toBeGreaterThanOrEqual(12);
    expect(second.filter((r, i) => r.caption === `square ${test.colours[i]}`).length).toBeGreaterThanOrEqual(12);
    expect(drawn.flat().some((c) => c.ids.some((id) => v.isStart(id)))).toBe(false);
    expect(forced.some((r) => r.best.ids.some((id) => v.isStart(id)))).toBe(false);
    trainer.dispose();
    model.dispose();
  });
});
