import { describe, expect, it } from 'vitest';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { bigramCounts, bigramIndex, candidateFeatures, captionBigrams, commonBigrams, detectedOrder, detectorAgreement, featureCount, mentionOrder, phraseIndex, SCALAR_FEATURES, type Candidate, type DetectorView } from '../../src/model/index.js';

// Every word in six captions, so none falls under the vocabulary's count threshold.
const vocab = Vocabulary.build(Array<string[]>(6).fill(['a', 'red', 'circle', 'and', 'blue', 'square', 'two', 'circles']));
const id = (w: string) => vocab.idOf(w);
const V = vocab.size;
const GRID = 4;
const phrases: Array<[number, number]> = [
  [id('red'), id('circle')],
  [id('blue'), id('square')],
  [id('and'), id('a')],
];

/** A map with all its mass on one cell of the 4x4 grid (column col, row 1). */
function peakAt(col: number): Float32Array {
  const map = new Float32Array(GRID * GRID);
  map[GRID + col] = 1;
  return map;
}

/** The detectors' view: "red circle" and "blue square" are countable; the maps show one red circle (left) and two blue squares (right, of different sizes). */
function view(): DetectorView {
  const presence = new Float32Array(V).fill(0.5);
  presence[id('red')] = 0.95;
  return {
    presence,
    cells: new Float32Array(GRID * GRID * V).fill(0.5),
    phrases: {
      presence: Float32Array.from([0.9, 0.8, 0.4]),
      find: phraseIndex(phrases),
      counting: {
        countable: new Set([0, 1]),
        instances: Int32Array.from([1, 2, 0]),
        blobs: [[{ x: 0.2, y: 0.5, cells: 2 }], [{ x: 0.7, y: 0.2, cells: 1 }, { x: 0.9, y: 0.8, cells: 4 }], []],
      },
    },
  };
}

/** "a red circle and a blue square" with the circle's map at column redCol and the square's at blueCol. */
function candidate(redCol: number, blueCol: number, opened = false): Candidate {
  const words = ['a', 'red', 'circle', 'and', 'a', 'blue', 'square'];
  const ids = [...words.map(id), vocab.endId];
  const attention = ids.map((_, t) => (t === 2 ? peakAt(redCol) : t === 6 ? peakAt(blueCol) : peakAt(0)));
  return { ids, words, logProb: -4, score: -4, finished: true, attention, opened };
}

describe('learned re-ranker features', () => {
  it('reads the order of the counted mentions from where their words looked', () => {
    expect(mentionOrder(candidate(0, 3), view(), GRID)).toEqual({ mentions: 2, inversions: 0, drop: 0 });
    // Blue square named second but seen left of the red circle: one inversion, 3 cells = 0.75 of the width back.
    expect(mentionOrder(candidate(3, 0), view(), GRID)).toEqual({ mentions: 2, inversions: 1, drop: 0.75 });
    // Less than half a cell back is not an inversion, but still counts in the drop.
    const near = candidate(1, 1);
    near.attention[6] = Float32Array.from(peakAt(1).map((v, i) => (i === GRID ? 0.2 : v * 0.8)));
    expect(mentionOrder(near, view(), GRID).inversions).toBe(0);
    expect(mentionOrder(near, view(), GRID).drop).toBeCloseTo((1.5 - 0.2 * 0.5 - 0.8 * 1.5) / GRID, 6);
    // Without countable phrases there is nothing to place.
    expect(mentionOrder(candidate(3, 0), { ...view(), phrases: undefined }, GRID)).toEqual({ mentions: 0, inversions: 0, drop: 0 });
  });

  it('reads the order of the counted mentions from where the phrase detector sees them, the k-th mention at the k-th blob', () => {
    const ids = (...words: string[]) => [...words.map(id), vocab.endId];
    expect(detectedOrder(ids('a', 'red', 'circle', 'and', 'a', 'blue', 'square'), view())).toEqual({ inversions: 0, drop: 0 });
    const reversed = detectedOrder(ids('a', 'blue', 'square', 'and', 'a', 'red', 'circle'), view());
    expect(reversed.inversions).toBe(1);
    expect(reversed.drop).toBeCloseTo(0.5, 6);
    // Second blue square (x 0.9), then the red circle (0.2): one step back of 0.7.
    const both = detectedOrder(ids('a', 'blue', 'square', 'and', 'a', 'blue', 'square', 'and', 'a', 'red', 'circle'), view());
    expect(both.inversions).toBe(1);
    expect(both.drop).toBeCloseTo(0.7, 6);
    // A mention beyond the blobs has no place; without blobs there is no evidence at all.
    expect(detectedOrder(ids('a', 'red', 'circle', 'and', 'a', 'red', 'circle'), view())).toEqual({ inversions: 0, drop: 0 });
    const { blobs: _blobs, ...noBlobs } = view().phrases!.counting!;
    expect(detectedOrder(ids('a', 'blue', 'square', 'and', 'a', 'red', 'circle'), { ...view(), phrases: { ...view().phrases!, counting: noBlobs } })).toEqual({ inversions: 0, drop: 0 });
  });

  it('lays out the scalars, the word blocks and the phrase blocks', () => {
    const c = candidate(3, 0, true);
    const v = view();
    const x = candidateFeatures(c, v, vocab, GRID);
    const P = 3;
    expect(x.length).toBe(featureCount(V, P));
    expect(featureCount(V, P)).toBe(SCALAR_FEATURES.length + 4 * V + 5 * P);
    const scalars = Object.fromEntries(SCALAR_FEATURES.map((name, i) => [name, x[i]]));
    expect(scalars).toEqual({
      logProb: -4, length: 8, logProbPerWord: -0.5, detectorAgreement: Math.fround(detectorAgreement(c.ids, v, vocab)), opened: 1,
      mentions: 2, orderInversions: 1, orderDrop: 0.75, // the attention says the square was named out of order
      detectorOrderInversions: 0, detectorOrderDrop: 0, // the detector places the red circle left of both squares
    });
    const S = SCALAR_FEATURES.length;
    const starts = [S, S + V, S + 2 * V, S + 3 * V, S + 4 * V, S + 4 * V + P, S + 4 * V + 2 * P, S + 4 * V + 3 * P, S + 4 * V + 4 * P];
    const block = (k: number) => Array.from(x.subarray(starts[k], starts[k]! + (k < 4 ? V : P)));
    const counts = block(0);
    expect(counts[id('a')]).toBe(2);
    expect(counts[vocab.endId]).toBe(1);
    expect(counts.reduce((s, n) => s + n, 0)).toBe(8);
    expect(block(1).findIndex((n) => n === 1)).toBe(id('a'));
    expect(block(2).findIndex((n) => n === 1)).toBe(id('red'));
    expect(block(3)).toEqual(Array.from(v.presence));
    expect(block(4)).toEqual(Array.from(v.phrases!.presence));
    expect(block(5)).toEqual([1, 2, 0]); // objects counted per phrase
    expect(block(6)).toEqual([1, 1, 1]); // uses: "red circle", "blue square", "and a"
    expect(block(7)).toEqual([0, -1, 1]); // uses minus objects counted
    expect(block(8)).toEqual([0, 0.75, 0]); // the blue squares' blobs: 1 and 4 cells
  });

  it('chooses the common bigrams of captions, marks start and end, and ends the features with their counts', () => {
    expect(captionBigrams(['two', 'circles'])).toEqual(['<s> two', 'two circles', 'circles </s>']);
    const captions = [['a', 'red', 'circle'], ['a', 'red', 'circle', 'and', 'a', 'red', 'circle'], ['two', 'circles']];
    // "a red" and "red circle" 3 times, "<s> a" and "circle </s>" twice, the rest once.
    expect(commonBigrams(captions, 2)).toEqual(['a red', 'red circle', '<s> a', 'circle </s>']);
    expect(commonBigrams(captions, 4)).toEqual([]);
    const bigrams = ['a red', 'blue square', '<s> a', 'square </s>', 'two circles'];
    const index = bigramIndex(bigrams);
    const c = candidate(3, 0, true);
    expect(Array.from(bigramCounts(c.words, index))).toEqual([1, 1, 1, 1, 0]);
    const v = view();
    const x = candidateFeatures(c, v, vocab, GRID, index);
    const base = candidateFeatures(c, v, vocab, GRID);
    expect(x.length).toBe(featureCount(V, 3, bigrams.length));
    // The training pipeline appends bigramCounts to features built without them: the same vector.
    expect(Array.from(x)).toEqual([...base, ...bigramCounts(c.words, index)]);
  });
});
