import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ShowAttendTell, beamSearch, defaultModelConfig, validateModelConfig } from '../../src/model/index.js';
import { namedObjects, nextObjectWord, objectCentreX, objectKinds, objectSize, readObjectKinds, type ObjectKind } from '../../src/model/object-order.js';
import { Vocabulary } from '../../src/data/vocabulary.js';

/** [L, P] row-major cells of several phrase maps on a grid (each map: L probabilities). */
function cellsOf(...maps: number[][]): Float32Array {
  const out = new Float32Array(maps[0]!.length * maps.length);
  maps.forEach((m, q) => m.forEach((p, c) => (out[c * maps.length + q] = p)));
  return out;
}

/** A 4x4 map at 0.01 with the given cells (row, col) set. */
function map(cells: Record<string, number>): number[] {
  const m = Array<number>(16).fill(0.01);
  for (const [at, p] of Object.entries(cells)) {
    const [r, c] = at.split(',').map(Number) as [number, number];
    m[r * 4 + c] = p;
  }
  return m;
}

describe('object centres and kinds', () => {
  it('places an object within its cell by the cells around its peak, those below the blob threshold included', () => {
    // One blob at cell (1, 1); the cell to its right responds at 0.1 (below the 0.2 threshold), the left one at 0.01.
    const m = map({ '1,1': 0.9, '1,2': 0.1 });
    const cells = cellsOf(m);
    const x = objectCentreX(cells, 4, 1, 0, [5]);
    const rows = [[0.01, 0.01, 0.01], [0.01, 0.9, 0.1], [0.01, 0.01, 0.01]]; // columns 0-2 of rows 0-2
    const mass = rows.flat().reduce((a, b) => a + b, 0);
    const sum = rows.reduce((s, row) => s + row.reduce((t, p, i) => t + p * (i + 0.5), 0), 0);
    expect(x).toBeCloseTo(sum / mass / 4, 6);
    // To the right of the cell's own centre (1.5 / 4), as the faint right neighbour says.
    expect(x).toBeGreaterThan(1.5 / 4);
    expect(objectCentreX(cellsOf(map({ '1,1': 0.9, '1,0': 0.1 })), 4, 1, 0, [5])).toBeLessThan(1.5 / 4);
  });

  it('lists the kinds the object phrases see, left to right, each with its object count and leftmost object', () => {
    const red = map({ '0,3': 0.9, '3,1': 0.8 }); // two red circles, the leftmost at column 1
    const blue = map({ '2,0': 0.9 });
    const notObject = map({ '0,0': 0.9 });
    const absent = map({});
    const kinds = objectKinds(cellsOf(red, blue, notObject, absent), 4, [[1, 2], [3, 4], [5, 1], [6, 2]], [0, 1, 3]);
    expect(kinds.map((k) => [k.phrase, k.first, k.second, k.objects])).toEqual([[1, 3, 4, 1], [0, 1, 2, 2]]);
    expect(kinds[0]!.x).toBeLessThan(kinds[1]!.x);
    expect(kinds[1]!.x).toBeCloseTo(objectCentreX(cellsOf(red), 4, 1, 0, [13]), 6);
    expect(() => objectKinds(new Float32Array(5), 4, [[1, 2]], [0])).toThrow(/objectKinds: 5 cell probabilities/);
  });

  it('tells twins of one size, which a caption may group, from twins of two sizes by the "large <colour>" and "small <colour>" maps', () => {
    // Phrases: 0 "red circle", 1 "large red", 2 "small red"; word ids 1 red, 2 circle, 7 large, 8 small.
    const phrases: Array<[number, number]> = [[1, 2], [7, 1], [8, 1]];
    const twins = map({ '0,0': 0.9, '3,3': 0.9 });
    const largeAt = (...at: string[]) => map(Object.fromEntries(at.map((a) => [a, 0.6])));
    const sizes = { large: 7, small: 8 };
    const mixed = cellsOf(twins, largeAt('0,1'), largeAt('3,2'));
    expect(objectSize(mixed, 4, 3, 0, [0], 1, 2)).toBeCloseTo(0.59, 6);
    expect(objectSize(mixed, 4, 3, 0, [15], 1, 2)).toBeCloseTo(-0.59, 6);
    expect(objectKinds(mixed, 4, phrases, [0], sizes)[0]).toMatchObject({ groupable: false, sizes: [1, -1] });
    expect(objectKinds(cellsOf(twins, largeAt('0,1', '3,2'), largeAt()), 4, phrases, [0], sizes)[0]!.groupable).toBe(true);
    // Without size words, or without their phrases, any twins may be grouped; a single object never.
    expect(objectKinds(mixed, 4, phrases, [0])[0]!.groupable).toBe(true);
    expect(objectKinds(mixed, 4, phrases, [0], { large: 9, small: 8 })[0]!.groupable).toBe(true);
    expect(objectKinds(cellsOf(map({ '0,0': 0.9 }), largeAt(), largeAt()), 4, phrases, [0], sizes)[0]!.groupable).toBe(false);
  });
});

describe('the next object to name', () => {
  // Word ids: 1 red, 2 circle, 3 blue, 4 square, 5 a, 6 and, 7 two, 8 circles.
  const kind = (phrase: number, first: number, second: number, x: number, objects = 1, groupable = objects >= 2, sizes: number[] = Array(objects).fill(0)): ObjectKind => ({
    phrase, first, second, x, objects, groupable, sizes,
  });
  const blueSquare = kind(1, 3, 4, 0.2);
  const redCircle = kind(0, 1, 2, 0.6);
  const redSquare = kind(2, 1, 4, 0.8);

  it('counts what a caption has named: pairs once each, a plural all of its kind', () => {
    const twins = kind(0, 1, 2, 0.6, 2);
    expect(namedObjects([blueSquare, twins], [5, 3, 4, 6, 5, 1, 2])).toEqual([1, 1]);
    expect(namedObjects([blueSquare, twins], [7, 1, 8])).toEqual([0, 2]);
    // A plural does not name a kind of one object.
    expect(namedObjects([blueSquare, redCircle], [7, 1, 8])).toEqual([0, 0]);
  });

  it('favours the first word of the leftmost kind not yet named, then its second word', () => {
    const kinds = [blueSquare, redCircle, redSquare];
    expect(nextObjectWord(kinds, [], 0)).toBe(3);
    expect(nextObjectWord(kinds, [5], 0)).toBe(3);
    expect(nextObjectWord(kinds, [5, 3, 4, 6, 5], 0)).toBe(1);
    // After "red", the red kind further left: circle.
    expect(nextObjectWord(kinds, [5, 3, 4, 6, 5, 1], 0)).toBe(2);
    expect(nextObjectWord(kinds, [5, 3, 4, 6, 5, 1, 2, 6, 5, 1], 0)).toBe(4);
    // Naming out of order is not undone: the guidance moves on to what is left.
    expect(nextObjectWord(kinds, [5, 1, 2, 6, 5], 0)).toBe(3);
    expect(nextObjectWord(kinds, [5, 3, 4, 6, 5, 1, 2, 6, 5, 1, 4], 0)).toBeUndefined();
  });

  it('keeps a kind of several objects open until each is named, and stays out of its plural', () => {
    const twins = kind(0, 1, 2, 0.1, 2);
    const kinds = [twins, kind(1, 3, 4, 0.5)];
    // Twins of one size are not pushed to a group here (the group bonus does that): their first word.
    expect(nextObjectWord(kinds, [5], 0, [7, 11])).toBe(1);
    expect(nextObjectWord(kinds, [7], 0, [7, 11])).toBe(1);
    expect(nextObjectWord(kinds, [5, 1, 2, 6, 5], 0)).toBe(1);
    expect(nextObjectWord(kinds, [5, 1, 2, 6, 5, 1, 2, 6, 5], 0)).toBe(3);
    expect(nextObjectWord(kinds, [7, 1, 8, 6, 5], 0)).toBe(3);
    // After "two red" the caption may say "circles": no word is favoured.
    expect(nextObjectWord(kinds, [7, 1], 0)).toBeUndefined();
  });

  it('after a count word favours the leftmost kind that has several objects', () => {
    const kinds = [kind(1, 3, 4, 0.1), kind(0, 1, 2, 0.5, 2)];
    const count = [7];
    expect(nextObjectWord(kinds, [5], 0, count)).toBe(3);
    expect(nextObjectWord(kinds, [7], 0, count)).toBe(1);
    expect(nextObjectWord(kinds, [7], 0)).toBe(3);
    expect(nextObjectWord([kind(1, 3, 4, 0.1)], [7], 0, count)).toBeUndefined();
    // Twins of two sizes are named one by one: no kind to favour after "two".
    expect(nextObjectWord([kind(1, 3, 4, 0.1), kind(0, 1, 2, 0.5, 2, false)], [7], 0, count)).toBeUndefined();
  });

  it('names twins of two sizes one by one, each with its size word before its colour', () => {
    // Word ids 9 large, 10 small. Red circles: a small one on the left, a large one on the right.
    const sizeWords = { large: 9, small: 10 };
    const kinds = [kind(0, 1, 2, 0.1, 2, false, [-1, 1]), kind(1, 3, 4, 0.5)];
    expect(nextObjectWord(kinds, [5], 0, [], sizeWords)).toBe(10);
    expect(nextObjectWord(kinds, [5, 10], 0, [], sizeWords)).toBe(1);
    expect(nextObjectWord(kinds, [5, 10, 1, 2, 6, 5], 0, [], sizeWords)).toBe(9);
    expect(nextObjectWord(kinds, [5, 10, 1, 2, 6, 5, 9, 1, 2, 6, 5], 0, [], sizeWords)).toBe(3);
    // Without size words, or with a size not told, the colour as before; twins of one size never get one.
    expect(nextObjectWord(kinds, [5], 0)).toBe(1);
    expect(nextObjectWord([kind(0, 1, 2, 0.1, 2, false, [0, 1])], [5], 0, [], sizeWords)).toBe(1);
    expect(nextObjectWord([kind(0, 1, 2, 0.1, 2, true, [1, 1])], [5], 0, [], sizeWords)).toBe(1);
    // A single object's size is not named.
    expect(nextObjectWord([kind(1, 3, 4, 0.1, 1, false, [1])], [5], 0, [], sizeWords)).toBe(3);
  });

  it('favours nothing where the next two kinds are closer than the margin', () => {
    const close = [kind(1, 3, 4, 0.5), kind(0, 1, 2, 0.52)];
    expect(nextObjectWord(close, [5], 0.05)).toBeUndefined();
    expect(nextObjectWord(close, [5], 0.01)).toBe(3);
    // Kinds that share the favoured word are no rivals.
    expect(nextObjectWord([kind(0, 1, 2, 0.5), kind(2, 1, 4, 0.51)], [5], 0.05)).toBe(1);
  });
});

describe('beam search with an order bonus', () => {
  const vocab = Vocabulary.build(Array.from({ length: 6 }, () => ['a', 'red', 'circle', 'and', 'blue', 'square']));
  const id = (w: string) => vocab.idOf(w);
  const config = (twinMarks: number[] | undefined, searchDefaults?: { orderBonus: number }) =>
    defaultModelConfig({
      searchDefaults,
      vocabSize: vocab.size, gridSize: 4, encoderDim: 3, attentionDim: 6, embedDim: 5, decoderDim: 7, wordDetector: true,
      encoder: { kind: 'precomputed' }, phrases: [[id('red'), id('circle')], [id('blue'), id('square')]], twinMarks,
    });
  // Feature 0 shows the red circle, feature 1 the blue square; image 0 has the blue square on the left, image 1 on the right.
  const cell = (r: number, c: number) => r * 4 + c;
  const scene = (red: number, blue: number) => Array.from({ length: 16 }, (_, c) => [c === red ? 1 : 0, c === blue ? 1 : 0, 0]);
  const feats = () => tf.tensor3d([scene(cell(1, 3), cell(2, 0)), scene(cell(1, 0), cell(2, 3))], [2, 16, 3]);

  function model(twinMarks: number[] | undefined, searchDefaults?: { orderBonus: number }): ShowAttendTell {
    const m = ShowAttendTell.create(config(twinMarks, searchDefaults), { seed: 9 });
    tf.tidy(() => {
      m.decoder.phraseKernel!.assign(tf.tensor2d([[20, 0], [0, 20], [0, 0]]));
      m.decoder.phraseBias!.assign(tf.tensor1d([-10, -10]));
      // The decoder alone says "red" first on every image, by 3 nats over "blue".
      m.decoder.fcBias!.assign(tf.add(tf.oneHot(id('red'), vocab.size).mul(13), tf.oneHot(id('blue'), vocab.size).mul(10)).toFloat() as tf.Tensor1D);
    });
    return m;
  }

  it('reads the kinds from the phrase detector, and names the leftmost first', async () => {
    const m = model([0, 1]);
    const x = feats();
    const before = tf.memory().numTensors;
    expect(readObjectKinds(m, x, vocab).map((kinds) => kinds.map((k) => k.phrase))).toEqual([[1, 0], [0, 1]]);
    const first = async (orderBonus: number) => (await beamSearch(m, x, vocab, { beamSize: 1, maxSteps: 1, detectorRerank: 0, orderBonus })).map((r) => r.best.words[0]);
    expect(await first(0)).toEqual(['red', 'red']);
    expect(await first(5)).toEqual(['blue', 'red']);
    // A bonus below the decoder's margin changes nothing.
    expect(await first(2)).toEqual(['red', 'red']);
    expect(tf.memory().numTensors).toBe(before);
    await expect(beamSearch(m, x, vocab, { beamSize: 1, maxSteps: 1, orderBonus: -1 })).rejects.toThrow(/orderBonus \(--order-bonus\) must be >= 0/);
    await expect(beamSearch(m, x, vocab, { beamSize: 1, maxSteps: 1, orderBonus: 1, orderMargin: 1 })).rejects.toThrow(/orderMargin \(--order-margin\) must be in \[0, 1\)/);
    const unmarked = model(undefined);
    await expect(beamSearch(unmarked, x, vocab, { beamSize: 1, maxSteps: 1, orderBonus: 2 })).rejects.toThrow(/reads the object phrases of the twin marks/);
    unmarked.dispose();
    x.dispose();
    m.dispose();
  });

  it('takes the bonus the model records in config.searchDefaults unless the caller gives one', async () => {
    const m = model([0, 1]);
    const withDefaults = model([0, 1], { orderBonus: 5 });
    const x = feats();
    const first = async (opts: { orderBonus?: number }) => (await beamSearch(withDefaults, x, vocab, { beamSize: 1, maxSteps: 1, detectorRerank: 0, ...opts })).map((r) => r.best.words[0]);
    expect(await first({})).toEqual(['blue', 'red']);
    expect(await first({ orderBonus: 0 })).toEqual(['red', 'red']);
    expect(() => validateModelConfig({ ...m.config, searchDefaults: { orderBonus: -1 } })).toThrow(/searchDefaults must be \{ groupBonus\?, orderBonus\? \} of numbers >= 0, and needs twinMarks/);
    expect(() => validateModelConfig({ ...m.config, twinMarks: undefined, searchDefaults: { groupBonus: 4 } })).toThrow(/searchDefaults/);
    expect(() => validateModelConfig({ ...m.config, searchDefaults: { beamBonus: 4 } as never })).toThrow(/searchDefaults/);
    x.dispose();
    m.dispose();
    withDefaults.dispose();
  });
});

describe('the group bonus beside the order bonus', () => {
  const vocab = Vocabulary.build(Array.from({ length: 6 }, () => ['there', 'is', 'are', 'a', 'two', 'three', 'red', 'circle', 'circles', 'and', 'blue', 'square']));
  const id = (w: string) => vocab.idOf(w);

  it('tries "there are" only where the leftmost kind of object has twins, "two" and "three" wherever twins are', async () => {
    const cfg = defaultModelConfig({
      vocabSize: vocab.size, gridSize: 4, encoderDim: 3, attentionDim: 6, embedDim: 5, decoderDim: 7, wordDetector: true,
      encoder: { kind: 'precomputed' }, phrases: [[id('red'), id('circle')], [id('blue'), id('square')]], twinMarks: [0, 1],
    });
    const model = ShowAttendTell.create(cfg, { seed: 4 });
    // Feature 0 shows red circles, feature 1 a blue square. Image 0: red twins at columns 0 and 3, the
    // blue square at column 2. Image 1: the blue square at column 0, red twins at columns 2 and 3.
    const scene = (red: number[], blue: number) => Array.from({ length: 16 }, (_, c) => [red.includes(c) ? 1 : 0, c === blue ? 1 : 0, 0]);
    const feats = tf.tensor3d([scene([0, 15], 6), scene([2, 15], 4)], [2, 16, 3]);
    tf.tidy(() => {
      model.decoder.phraseKernel!.assign(tf.tensor2d([[20, 0], [0, 20], [0, 0]]));
      model.decoder.phraseBias!.assign(tf.tensor1d([-10, -10]));
      // The decoder alone says "is" by 20 nats, and prefers "are" to "two" and "three" by 1.
      model.decoder.fcBias!.assign(tf.add(tf.oneHot(id('is'), vocab.size).mul(20), tf.oneHot(id('are'), vocab.size)).toFloat() as tf.Tensor1D);
    });
    const first = async (groupBonus: number, orderBonus: number) =>
      (await beamSearch(model, feats, vocab, { beamSize: 1, maxSteps: 1, detectorRerank: 0, groupBonus, orderBonus })).map((r) => vocab.wordOf(r.best.ids[0]!));
    const before = tf.memory().numTensors;
    expect(await first(0, 0)).toEqual(['is', 'is']);
    for (const orderBonus of [0, 1e-3]) {
      const [opensWithTwins, opensWithBlue] = await first(100, orderBonus);
      expect(opensWithTwins).toBe('are');
      expect(['two', 'three']).toContain(opensWithBlue);
    }
    expect(tf.memory().numTensors).toBe(before);
    feats.dispose();
    model.dispose();
  });

  it('tries no grouping word on twins of two sizes, as the "large <colour>" and "small <colour>" maps tell them', async () => {
    const sized = Vocabulary.build(Array.from({ length: 6 }, () => ['there', 'is', 'are', 'a', 'two', 'three', 'large', 'small', 'red', 'circle', 'circles']));
    const w = (word: string) => sized.idOf(word);
    const cfg = defaultModelConfig({
      vocabSize: sized.size, gridSize: 4, encoderDim: 3, attentionDim: 6, embedDim: 5, decoderDim: 7, wordDetector: true, encoder: { kind: 'precomputed' },
      phrases: [[w('red'), w('circle')], [w('large'), w('red')], [w('small'), w('red')]], twinMarks: [0],
    });
    const model = ShowAttendTell.create(cfg, { seed: 4 });
    // Feature 0 shows red circles, feature 2 their size: +1 large, -1 small. Image 0: a large and a small one; image 1: two large.
    const scene = (sizes: [number, number]) => Array.from({ length: 16 }, (_, c) => (c === 0 ? [1, 0, sizes[0]] : c === 15 ? [1, 0, sizes[1]] : [0, 0, 0]));
    const feats = tf.tensor3d([scene([1, -1]), scene([1, 1])], [2, 16, 3]);
    tf.tidy(() => {
      model.decoder.phraseKernel!.assign(tf.tensor2d([[20, 0, 0], [0, 0, 0], [0, 20, -20]]));
      model.decoder.phraseBias!.assign(tf.tensor1d([-10, -10, -10]));
      model.decoder.fcBias!.assign(tf.oneHot(w('is'), sized.size).mul(20).toFloat() as tf.Tensor1D);
    });
    const before = tf.memory().numTensors;
    const kinds = readObjectKinds(model, feats, sized);
    expect(kinds.map((k) => [k[0]!.objects, k[0]!.groupable])).toEqual([[2, false], [2, true]]);
    const firstWords = (await beamSearch(model, feats, sized, { beamSize: 1, maxSteps: 1, detectorRerank: 0, groupBonus: 100 })).map((r) => sized.wordOf(r.best.ids[0]!));
    expect(firstWords[0]).toBe('is');
    expect(['two', 'three', 'are']).toContain(firstWords[1]);
    expect(tf.memory().numTensors).toBe(before);
    feats.dispose();
    model.dispose();
  });
});
