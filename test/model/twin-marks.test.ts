import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { ShowAttendTell, beamSearch, defaultModelConfig, detectorViews, sampleCaptions, validateModelConfig } from '../../src/model/index.js';
import { tinyVocab } from './helpers.js';
import { prepareTargets, teacherForcedLoss } from '../../src/model/loss.js';
import { addTwinMarks, batchTwinMarks, markCount, TWIN_MARKS, twinMarkCells } from '../../src/model/twin-marks.js';
import { objectPhrases } from '../../pipelines/train.js';
import { Vocabulary } from '../../src/data/vocabulary.js';

/** One phrase map on a 4x4 grid from rows of '#' (p = 0.9) and '.' (p = 0.05). */
function map(...rows: string[]): number[] {
  return rows.join('').split('').map((c) => (c === '#' ? 0.9 : 0.05));
}

/** [L, P] row-major cells of several phrase maps. */
function cellsOf(...maps: number[][]): Float32Array {
  const out = new Float32Array(maps[0]!.length * maps.length);
  maps.forEach((m, q) => m.forEach((p, c) => (out[c * maps.length + q] = p)));
  return out;
}

const N = markCount(true);
/** The twin marks of one cell (row, col) on a 4x4 grid. */
const at = (marks: Float32Array, row: number, col: number) => Array.from(marks.subarray((row * 4 + col) * N, (row * 4 + col) * N + TWIN_MARKS));
/** The order marks of one cell: [in a blob, its centre x]. */
const order = (marks: Float32Array, row: number, col: number) => Array.from(marks.subarray((row * 4 + col) * N + TWIN_MARKS, (row * 4 + col + 1) * N));

describe('twin marks', () => {
  const twins = map('##..', '##..', '...#', '....'); // a 4-cell blob and a 1-cell blob
  const single = map('....', '....', '#...', '....');
  const triple = map('#.#.', '....', '#...', '....');

  it('marks every cell of a marked phrase seen two or more times, with three-or-more and the log size ratio', () => {
    const marks = twinMarkCells(cellsOf(twins, single, triple), 4, 3, [0, 1, 2]);
    expect(at(marks, 0, 0)).toEqual([1, 1, Math.fround(Math.log(4))]); // in the twins' big blob and in a triple's blob
    expect(at(marks, 1, 1)).toEqual([1, 0, Math.fround(Math.log(4))]);
    expect(at(marks, 2, 3)).toEqual([1, 0, Math.fround(Math.log(4))]);
    expect(at(marks, 0, 2)).toEqual([1, 1, 0]); // a triple of equal blobs
    expect(at(marks, 2, 0)).toEqual([1, 1, 0]); // the single's cell is a triple's cell too
    expect(at(marks, 3, 3)).toEqual([0, 0, 0]);
  });

  it('leaves phrases that are not marked unmarked, and a phrase seen once without twin marks', () => {
    const twinFree = (m: Float32Array) => Array.from({ length: 16 }, (_, c) => at(m, Math.floor(c / 4), c % 4)).flat().every((v) => v === 0);
    expect(Array.from(twinMarkCells(cellsOf(twins, single), 4, 2, [])).every((m) => m === 0)).toBe(true);
    const singleOnly = twinMarkCells(cellsOf(twins, single), 4, 2, [1]);
    expect(twinFree(singleOnly)).toBe(true);
    expect(order(singleOnly, 2, 0)).toEqual([1, -0.75]);
    expect(order(singleOnly, 0, 0)).toEqual([0, 0]);
    expect(() => twinMarkCells(new Float32Array(10), 4, 1, [0])).toThrow(/twinMarkCells: 10 cell probabilities/);
  });

  it('gives each blob cell its object centre x, from the phrase most probable there', () => {
    const faint = map('....', '....', '....', '....').map((p, c) => (c === 0 ? 0.5 : p)); // cell (0, 0) at 0.5 only
    const marks = twinMarkCells(cellsOf(twins, faint), 4, 2, [0, 1]);
    // The twins' 2x2 blob is centred at x = 1 cell of 4: -0.5 in [-1, 1]; it owns (0, 0) at 0.9 over 0.5.
    expect(order(marks, 0, 0)).toEqual([1, -0.5]);
    expect(order(marks, 1, 1)).toEqual([1, -0.5]);
    expect(order(marks, 2, 3)).toEqual([1, 0.75]);
    expect(order(marks, 3, 0)).toEqual([0, 0]);
  });

  it('marks the phrases that name a kind of object: a colour, then a shape', () => {
    const vocab = Vocabulary.build(Array.from({ length: 6 }, () => ['a', 'red', 'circle', 'and', 'blue', 'square']));
    const id = (w: string) => vocab.idOf(w);
    expect(objectPhrases([[id('a'), id('red')], [id('red'), id('circle')], [id('circle'), id('and')], [id('blue'), id('square')]], vocab)).toEqual([1, 3]);
  });
});

describe('a model with twin marks', () => {
  const config = () =>
    defaultModelConfig({
      vocabSize: 8, gridSize: 4, encoderDim: 18, attentionDim: 6, embedDim: 5, decoderDim: 7, wordDetector: true,
      encoder: { kind: 'compact-cnn', channels: [4, 16], coordChannels: true }, phrases: [[4, 5], [5, 6]], twinMarks: [0, 1],
    });
  const images = () => tf.tensor4d(Array.from({ length: 2 * 8 * 8 * 3 }, (_, i) => Math.sin(i)), [2, 8, 8, 3]);

  it('starts as the model without marks, and leaves the detectors the unmarked annotations', () => {
    const model = ShowAttendTell.create(config(), { seed: 5 });
    const plain = ShowAttendTell.create({ ...config(), twinMarks: undefined }, { seed: 5 });
    const x = images();
    const before = tf.memory().numTensors;
    const [features, unmarked] = [model.encode(x), plain.encode(x)];
    expect(Array.from(features.dataSync())).toEqual(Array.from(unmarked.dataSync()));
    expect(plain.decoderAnnotations(unmarked)).toBe(unmarked);
    const annotations = model.decoderAnnotations(features);
    expect(annotations).not.toBe(features);
    expect(Array.from(annotations.dataSync())).toEqual(Array.from(features.dataSync()));
    tf.dispose([features, unmarked, annotations]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x]);
    model.dispose();
    plain.dispose();
  });

  it('reads the marks from the phrase probabilities, moves only the marked cells, and learns the kernel', () => {
    // Phrase 0 on in the top-left 2x2 cells and the bottom-right cell of image 0: twins of sizes 4 and 1.
    const on = map('##..', '##..', '....', '...#');
    const marks = batchTwinMarks(Float32Array.from([...on.map((p) => [p, 0.05]), ...on.map(() => [0.05, 0.05])].flat()), 2, 4, 2, [0]);
    // Image 0 has a cell marked as having a twin, image 1 none.
    expect(marks.map((m) => m.some((mark, i) => i % N === 0 && mark > 0))).toEqual([true, false]);
    const features = tf.tensor3d(Array.from({ length: 2 * 16 * 3 }, (_, i) => Math.cos(i)), [2, 16, 3]);
    const kernel = tf.variable(tf.tensor2d([[1, 2, 3], [0, 0, 0], [10, 10, 10]]));
    const before = tf.memory().numTensors;
    const out = addTwinMarks(features, marks, kernel);
    const shift = tf.tidy(() => tf.sub(out, features).arraySync()) as number[][][];
    const ratio = Math.log(4);
    shift[0]!.forEach((cell, c) => cell.forEach((d, k) => expect(d).toBeCloseTo(on[c]! > 0.5 ? k + 1 + 10 * ratio : 0, 4)));
    shift[1]!.forEach((cell) => cell.forEach((d) => expect(d).toBe(0)));
    out.dispose();
    const { value, grads } = tf.variableGrads(() => tf.sum(addTwinMarks(features, marks, kernel)) as tf.Scalar, [kernel]);
    // d sum / d kernel[k][j] = the sum of mark k over the cells: 5 marked cells, none of them a triple.
    expect(Array.from(grads[kernel.name]!.dataSync()).map((g) => +g.toFixed(4))).toEqual([5, 5, 5, 0, 0, 0, ...Array(3).fill(+(5 * ratio).toFixed(4))]);
    tf.dispose([value, grads[kernel.name]!]);
    // A kernel of five rows also reads the order marks: in a blob (row 3) and the blob's centre x (row 4).
    const withOrder = tf.tidy(() => tf.variable(tf.tensor2d([[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 1, 1], [2, 2, 2]])));
    const ordered = addTwinMarks(features, marks, withOrder);
    const orderShift = tf.tidy(() => tf.sub(ordered, features).arraySync()) as number[][][];
    // The 2x2 blob is centred at x = -0.5, the single cell (3, 3) at 0.75.
    [[0, -0.5], [5, -0.5], [15, 0.75], [2, undefined]].forEach(([c, x]) => orderShift[0]![c!]!.forEach((d) => expect(d).toBeCloseTo(x === undefined ? 0 : 1 + 2 * x, 5)));
    tf.dispose([ordered, withOrder]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([features, kernel]);
  });

  it('trains end to end: the loss has a gradient for the mark kernel', () => {
    const model = ShowAttendTell.create(config(), { seed: 7 });
    const x = images();
    const targets = prepareTargets({ batchSize: 2, captions: Int32Array.from([4, 5, 2, 5, 6, 2]), lengths: Int32Array.from([3, 3]) });
    const kernel = model.decoder.twinMarkKernel!;
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => teacherForcedLoss(model, model.encode(x, true), targets, { alphaC: 1, training: true, seed: 1, oneHotEmbedding: true, phraseDetection: 1 }).loss, [kernel]);
    expect(grads[kernel.name]!.shape).toEqual([TWIN_MARKS, 18]);
    tf.dispose([value, grads[kernel.name]!]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });

  it('changes what beam search, sampling and the word detector read, and leaks no tensors there', async () => {
    const vocab = tinyVocab();
    const cfg = defaultModelConfig({
      vocabSize: vocab.size, gridSize: 4, encoderDim: 3, attentionDim: 6, embedDim: 5, decoderDim: 7, wordDetector: true,
      encoder: { kind: 'precomputed' }, phrases: [[vocab.idOf('red'), vocab.idOf('circle')], [vocab.idOf('blue'), vocab.idOf('square')]], twinMarks: [0, 1],
    });
    const model = ShowAttendTell.create(cfg, { seed: 11 });
    // Channel 0 on in two separate blobs of image 0 (twins) and one blob of image 1; phrase 0 reads it.
    const on = [map('##..', '##..', '....', '...#'), map('##..', '##..', '....', '....')];
    const feats = tf.tensor3d(on.flatMap((m) => m.flatMap((p, c) => [p > 0.5 ? 1 : 0, Math.sin(c), Math.cos(c)])), [2, 16, 3]);
    tf.tidy(() => {
      model.decoder.phraseKernel!.assign(tf.tensor2d([[20, 0], [0, 0], [0, 0]]));
      model.decoder.phraseBias!.assign(tf.tensor1d([-10, -10]));
    });
    const decode = async () => {
      const beams = await beamSearch(model, feats, vocab, { beamSize: 2, maxSteps: 6, detectorRerank: 0 });
      const greedy = await sampleCaptions(model, feats, vocab, { samples: 1, temperature: 0, maxSteps: 6, rng: () => 0 });
      return [...beams.map((r) => r.best.score), ...greedy.map((g) => g[0]!.logProb)];
    };
    const before = tf.memory().numTensors;
    const unmarked = await decode();
    const plainViews = detectorViews(model, feats);
    tf.tidy(() => model.decoder.twinMarkKernel!.assign(tf.tensor2d([[0, 8, -8], [0, 0, 0], [0, 0, 0]])));
    const marked = await decode();
    // The word detector reads the marks, the phrase detector (what the marks are read from) does not.
    const views = detectorViews(model, feats);
    expect(Array.from(views[0]!.presence)).not.toEqual(Array.from(plainViews[0]!.presence));
    expect(Array.from(views[1]!.presence)).toEqual(Array.from(plainViews[1]!.presence));
    expect(Array.from(views[0]!.phrases!.presence)).toEqual(Array.from(plainViews[0]!.phrases!.presence));
    // Only image 0 has twins: its scores move, image 1's do not.
    expect(marked[0]).not.toBeCloseTo(unmarked[0]!, 3);
    expect(marked[1]).toBeCloseTo(unmarked[1]!, 5);
    expect(marked[2]).not.toBeCloseTo(unmarked[2]!, 3);
    expect(marked[3]).toBeCloseTo(unmarked[3]!, 5);
    expect(tf.memory().numTensors).toBe(before);
    feats.dispose();
    model.dispose();
  });

  it('with a group bonus, tries "two", "three" and "are" only on images whose marks see twins', async () => {
    const vocab = Vocabulary.build(Array.from({ length: 6 }, () => ['there', 'is', 'are', 'a', 'two', 'three', 'red', 'circle', 'circles', 'and']));
    const cfg = defaultModelConfig({
      vocabSize: vocab.size, gridSize: 4, encoderDim: 3, attentionDim: 6, embedDim: 5, decoderDim: 7, wordDetector: true,
      encoder: { kind: 'precomputed' }, phrases: [[vocab.idOf('red'), vocab.idOf('circle')]], twinMarks: [0],
    });
    const model = ShowAttendTell.create(cfg, { seed: 3 });
    const on = [map('##..', '##..', '....', '...#'), map('##..', '##..', '....', '....')]; // twins; one object
    const feats = tf.tensor3d(on.flatMap((m) => m.flatMap((p, c) => [p > 0.5 ? 1 : 0, Math.sin(c), Math.cos(c)])), [2, 16, 3]);
    tf.tidy(() => {
      model.decoder.phraseKernel!.assign(tf.tensor2d([[20], [0], [0]]));
      model.decoder.phraseBias!.assign(tf.tensor1d([-10]));
      // The decoder alone says "there" first, by 20 nats.
      model.decoder.fcBias!.assign(tf.oneHot(vocab.idOf('there'), vocab.size).mul(20).toFloat() as tf.Tensor1D);
    });
    const grouping = new Set(['two', 'three', 'are'].map((w) => vocab.idOf(w)));
    const first = async (groupBonus: number) => (await beamSearch(model, feats, vocab, { beamSize: 1, maxSteps: 1, detectorRerank: 0, groupBonus })).map((r) => r.best.ids[0]!);
    const before = tf.memory().numTensors;
    const [plain, bonus] = [await first(0), await first(100)];
    expect(plain).toEqual([vocab.idOf('there'), vocab.idOf('there')]);
    expect(grouping.has(bonus[0]!)).toBe(true);
    expect(bonus[1]).toBe(vocab.idOf('there'));
    expect(tf.memory().numTensors).toBe(before);
    await expect(beamSearch(model, feats, vocab, { beamSize: 1, maxSteps: 1, groupBonus: -1 })).rejects.toThrow(/groupBonus \(--group-bonus\) must be >= 0/);
    const unmarked = ShowAttendTell.create({ ...cfg, twinMarks: undefined }, { seed: 3 });
    await expect(beamSearch(unmarked, feats, vocab, { beamSize: 1, maxSteps: 1, groupBonus: 2 })).rejects.toThrow(/reads the twin marks: the model was trained without them/);
    unmarked.dispose();
    feats.dispose();
    model.dispose();
  });

  it('refuses marks that are not indices into the phrases', () => {
    expect(() => validateModelConfig({ ...config(), twinMarks: [2] })).toThrow(/twinMarks must be increasing indices into phrases \(2 phrases\)/);
  });
});
