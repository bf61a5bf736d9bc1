import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { createRng } from '../../src/data/rng.js';
import { ShowAttendTell, beamSearch, defaultModelConfig } from '../../src/model/index.js';
import { argmax, draw, sampleCaptions, softmax } from '../../src/model/sample-captions.js';
import { decodingFixture, fixedDistribution, makeBeamsDiverse, noise, referenceDecode, tinyVocab, withStrongMemory } from './helpers.js';

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

describe('sampleCaptions', () => {
  it('at temperature 0 is the greedy decode: the beam of one, image by image, leaking nothing', async () => {
    const beams = await beamSearch(model, feats, vocab, { beamSize: 1, maxSteps: 12, detectorRerank: 0 });
    const before = tf.memory().numTensors;
    const greedy = await sampleCaptions(model, feats, vocab, { samples: 2, temperature: 0, maxSteps: 12, rng: () => 0 });
    expect(tf.memory().numTensors).toBe(before);
    // The fixture must give different captions to different images, or the comparison proves little.
    expect(new Set(beams.map((r) => r.best.ids.join(','))).size).toBeGreaterThan(1);
    greedy.forEach((captions, i) => {
      expect(captions).toHaveLength(2);
      for (const caption of captions) {
        expect(caption.ids).toEqual(beams[i]!.best.ids);
        expect(caption.logProb).toBeCloseTo(beams[i]!.best.logProb, 3);
      }
    });
  });

  it('with attention asked for, returns the beam of one\'s maps, one per word, and still leaks nothing', async () => {
    const beams = await beamSearch(model, feats, vocab, { beamSize: 1, maxSteps: 12, detectorRerank: 0 });
    const before = tf.memory().numTensors;
    const greedy = await sampleCaptions(model, feats, vocab, { samples: 1, temperature: 0, maxSteps: 12, rng: () => 0, attention: true });
    expect(tf.memory().numTensors).toBe(before);
    greedy.forEach(([caption], i) => {
      const expected = beams[i]!.best.attention;
      expect(caption!.attention).toHaveLength(expected.length);
      caption!.attention!.forEach((map, t) => expect(Array.from(map).map((v, j) => v - expected[t]![j]!).every((d) => Math.abs(d) < 1e-5)).toBe(true));
    });
    const without = await sampleCaptions(model, feats, vocab, { samples: 1, temperature: 0, maxSteps: 12, rng: () => 0 });
    expect(without[0]![0]!.attention).toBeUndefined();
  });

  it('with a prefix: every caption opens with it and goes on as the model would after those words', async () => {
    const red = vocab.idOf('red');
    const square = vocab.idOf('square');
    const opened = await sampleCaptions(model, feats, vocab, { samples: 1, temperature: 0, maxSteps: 10, prefix: [red, square], rng: () => 0 });
    const free = await sampleCaptions(model, feats, vocab, { samples: 1, temperature: 0, maxSteps: 10, rng: () => 0 });
    expect(opened.map((c) => c[0]!.ids.join(','))).not.toEqual(free.map((c) => c[0]!.ids.join(','))); // the prefix changed something
    for (let i = 0; i < 5; i++) {
      const one = tf.slice(feats, [i, 0, 0], [1, -1, -1]);
      expect(opened[i]![0]!.ids.slice(0, 2)).toEqual([red, square]);
      expect(opened[i]![0]!.ids).toEqual(tf.tidy(() => referenceDecode(model, one, vocab, 10, [red, square]).ids));
      // The forced words count in the log-probability: it is below the free greedy caption's.
      expect(opened[i]![0]!.logProb).toBeLessThanOrEqual(free[i]![0]!.logProb + 1e-4);
      one.dispose();
    }
  });

  it('with attention memory and a prefix still equals the reference decode and leaks nothing', async () => {
    const mem = withStrongMemory(model);
    const before = tf.memory().numTensors;
    const greedy = await sampleCaptions(mem, feats, vocab, { samples: 1, temperature: 0, maxSteps: 12, prefix: [vocab.idOf('a')], rng: () => 0 });
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < 5; i++) {
      const one = tf.slice(feats, [i, 0, 0], [1, -1, -1]);
      expect(greedy[i]![0]!.ids).toEqual(tf.tidy(() => referenceDecode(mem, one, vocab, 12, [vocab.idOf('a')]).ids));
      one.dispose();
    }
    mem.dispose();
  });

  it('on annotations wide enough for the transposed context product still equals the beam of one', async () => {
    // 4 x 16384 values per image: attendPrecompute hands back transposed annotations, as in gradient-check.
    const wide = ShowAttendTell.create(defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'precomputed' }, encoderDim: 16384, gridSize: 2, attentionDim: 16, embedDim: 16, decoderDim: 32 }), { seed: 7 });
    makeBeamsDiverse(wide, vocab);
    const f = tf.tidy(() => tf.mul(tf.tensor3d(noise(3 * 4 * 16384, 9), [3, 4, 16384]), 4) as tf.Tensor3D);
    const beams = await beamSearch(wide, f, vocab, { beamSize: 1, maxSteps: 8, detectorRerank: 0 });
    const before = tf.memory().numTensors;
    const greedy = await sampleCaptions(wide, f, vocab, { samples: 1, temperature: 0, maxSteps: 8, rng: () => 0 });
    expect(tf.memory().numTensors).toBe(before);
    greedy.forEach((c, i) => {
      expect(c[0]!.ids).toEqual(beams[i]!.best.ids);
      expect(c[0]!.logProb).toBeCloseTo(beams[i]!.best.logProb, 3);
    });
    f.dispose();
    wide.dispose();
  });

  it('draws words with the softmax probabilities at temperature 1, flatter at 2, the same again from the same seed', async () => {
    const fixed = ShowAttendTell.create(model.config, { seed: 5 });
    const [a, red, end] = [vocab.idOf('a'), vocab.idOf('red'), vocab.endId];
    fixedDistribution(fixed, new Map([[a, Math.log(6)], [red, Math.log(3)], [end, 0]])); // p = 0.6, 0.3, 0.1
    const one = tf.slice(feats, [0, 0, 0], [1, -1, -1]);
    const firstWords = async (temperature: number, seed: number) => (await sampleCaptions(fixed, one, vocab, { samples: 2000, temperature, maxSteps: 1, rng: createRng(seed) }))[0]!.map((c) => c.ids[0]!);
    const share = (words: number[], id: number) => words.filter((w) => w === id).length / words.length;
    const t1 = await firstWords(1, 7);
    expect(share(t1, a)).toBeCloseTo(0.6, 1);
    expect(share(t1, red)).toBeCloseTo(0.3, 1);
    expect(share(t1, end)).toBeCloseTo(0.1, 1);
    const t2 = await firstWords(2, 7);
    // At temperature 2 the probabilities go as sqrt(6) : sqrt(3) : 1, i.e. 0.51, 0.36, 0.14.
    expect(share(t2, a)).toBeCloseTo(0.51, 1);
    expect(share(t2, end)).toBeGreaterThan(share(t1, end));
    expect(await firstWords(1, 7)).toEqual(t1);
    expect(await firstWords(1, 8)).not.toEqual(t1);
    one.dispose();
    fixed.dispose();
  });

  it('refuses a sample count below 1, a negative temperature, a prefix word outside the vocabulary and mis-shaped features, naming them', async () => {
    await expect(sampleCaptions(model, feats, vocab, { samples: 1, temperature: 0, maxSteps: 5, prefix: [vocab.size], rng: () => 0 })).rejects.toThrow(`prefix word id ${vocab.size} is outside the vocabulary`);
    const wrong = tf.zeros([1, 9, 32]) as tf.Tensor3D;
    await expect(sampleCaptions(model, wrong, vocab, { samples: 1, temperature: 0, maxSteps: 5, rng: () => 0 })).rejects.toThrow(/features are \[1, 9, 32\], the model expects \[B, 16, 32\]/);
    wrong.dispose();
    await expect(sampleCaptions(model, feats, vocab, { samples: 0, temperature: 1, maxSteps: 5, rng: () => 0 })).rejects.toThrow(/samples must be an integer >= 1 \(got 0\)/);
    await expect(sampleCaptions(model, feats, vocab, { samples: 1, temperature: -1, maxSteps: 5, rng: () => 0 })).rejects.toThrow(/temperature must be >= 0 \(got -1\)/);
  });
});

describe('draw and argmax', () => {
  const p = Float32Array.from([0.5, 0.2, 0.3]);
  it('draw walks the cumulative distribution with the banned words left out and renormalised', () => {
    expect(draw(p, 0, [])).toBe(0);
    expect(draw(p, 0.6, [])).toBe(1);
    expect(draw(p, 0.75, [])).toBe(2);
    // Without word 0 the rest is 0.4 : 0.6.
    expect(draw(p, 0.3, [0])).toBe(1);
    expect(draw(p, 0.5, [0])).toBe(2);
    expect(draw(p, 0.99999, [0])).toBe(2);
  });
  it('softmax divides by the temperature', () => {
    const z = Float32Array.from([Math.log(6), Math.log(3), 0]);
    Array.from(softmax(z, 1)).forEach((x, i) => expect(x).toBeCloseTo([0.6, 0.3, 0.1][i]!, 6));
    const flat = softmax(z, 2);
    expect(flat[0]! / flat[2]!).toBeCloseTo(Math.sqrt(6), 5);
  });
  it('argmax skips banned words', () => {
    expect(argmax(p, [])).toBe(0);
    expect(argmax(p, [0])).toBe(2);
  });
});
