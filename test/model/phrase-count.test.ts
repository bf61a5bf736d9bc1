import { describe, expect, it } from 'vitest';
import { countablePhrases, phraseBlobs, phraseIndex, phraseInstanceCounts, phraseOccurrences, type CountingSample } from '../../src/model/index.js';
import { MAX_COUNT_VIOLATION, MIN_COUNT_EVIDENCE } from '../../src/model/phrase-count.js';

/** One phrase map on a 4x4 grid from rows of '#' (p = 0.9), '+' (p = 0.2, just on) and '.' (p = 0.05). */
function map(...rows: string[]): number[] {
  return rows.join('').split('').map((c) => (c === '#' ? 0.9 : c === '+' ? 0.2 : 0.05));
}

/** [L, P] row-major cells of several phrase maps. */
function cellsOf(...maps: number[][]): Float32Array {
  const l = maps[0]!.length;
  const out = new Float32Array(l * maps.length);
  maps.forEach((m, q) => m.forEach((p, c) => (out[c * maps.length + q] = p)));
  return out;
}

describe('phrase instance counts', () => {
  it('counts the 8-connected blobs of cells at or above the threshold in each phrase map', () => {
    const two = map('##..', '#...', '...#', '..##'); // two blobs in opposite corners
    const diagonal = map('#...', '.#..', '..+.', '....'); // touching corners: one blob, 0.2 counts
    const none = map('....', '....', '....', '....');
    const three = map('#.#.', '....', '#...', '....');
    expect(Array.from(phraseInstanceCounts(cellsOf(two, diagonal, none, three), 4, 4))).toEqual([2, 1, 0, 3]);
    // A stricter threshold drops the 0.2 cell but the diagonal blob is still one.
    expect(Array.from(phraseInstanceCounts(cellsOf(two, diagonal, none, three), 4, 4, 0.5))).toEqual([2, 1, 0, 3]);
    const faint = cellsOf(map('#...', '....', '..+.', '....'));
    expect(Array.from(phraseInstanceCounts(faint, 4, 1))).toEqual([2]);
    expect(Array.from(phraseInstanceCounts(faint, 4, 1, 0.5))).toEqual([1]);
    expect(() => phraseInstanceCounts(new Float32Array(15), 4, 1)).toThrow(/15 cell probabilities, expected 16 cells x 1 phrases/);
  });

  it('locates each blob by its probability-weighted centre and sizes it in cells, left to right', () => {
    // The right blob is found first (row 0) but listed second: blobs go left to right.
    const [blobs, none] = phraseBlobs(cellsOf(map('...#', '....', '#+..', '#...'), map('....', '....', '....', '....')), 4, 2);
    expect(none).toEqual([]);
    expect(blobs).toHaveLength(2);
    const [left, right] = blobs!;
    expect(left!.cells).toBe(3);
    // x: (0.9 * 0.5 + 0.2 * 1.5 + 0.9 * 0.5) / 2.0 / 4; y: (0.9 * 2.5 + 0.2 * 2.5 + 0.9 * 3.5) / 2.0 / 4.
    expect(left!.x).toBeCloseTo((0.45 + 0.3 + 0.45) / 2 / 4, 6);
    expect(left!.y).toBeCloseTo((2.25 + 0.5 + 3.15) / 2 / 4, 6);
    expect(right).toEqual({ x: 3.5 / 4, y: 0.5 / 4, cells: 1 });
  });

  it('counts how often a caption names each phrase, by index', () => {
    const phrases: Array<[number, number]> = [[5, 6], [1, 5]];
    expect([...phraseOccurrences([1, 5, 6, 2, 1, 5, 6], phraseIndex(phrases))].sort()).toEqual([[0, 2], [1, 2]]);
    expect(phraseOccurrences([6, 5], phraseIndex(phrases)).size).toBe(0);
  });
});

describe('countable phrases', () => {
  const phrases: Array<[number, number]> = [[5, 6], [1, 5], [7, 8]];
  const sample = (counts: number[], ...captions: number[][]): CountingSample => ({ counts: Int32Array.from(counts), captions });
  const twice = [1, 5, 6, 2, 1, 5, 6]; // names phrase 0 twice and phrase 1 twice
  const once = [1, 5, 6]; // names each once: no evidence

  it('keeps a phrase whose blobs seldom number fewer than a reference names it, given enough evidence', () => {
    expect(MIN_COUNT_EVIDENCE).toBe(20);
    expect(MAX_COUNT_VIOLATION).toBe(0.05);
    // Phrase 0 ("red circle") has two blobs wherever a caption names it twice; phrase 1 ("a red") has one.
    const agree = (n: number) => Array.from({ length: n }, (_, i) => sample([2 + (i % 2), 1, 0], twice, once));
    expect(countablePhrases(agree(20), phrases)).toEqual([0]);
    // 19 pieces of evidence are too few, however clean.
    expect(countablePhrases(agree(19), phrases)).toEqual([]);
  });

  it('drops a phrase when more than 5% of its evidence contradicts the blobs', () => {
    const good = Array.from({ length: 95 }, () => sample([2, 2, 0], twice));
    const bad = (n: number) => Array.from({ length: n }, () => sample([1, 2, 0], twice));
    expect(countablePhrases([...good, ...bad(5)], phrases)).toEqual([0, 1]); // 5 of 100: kept
    expect(countablePhrases([...good, ...bad(6)], phrases)).toEqual([1]); // 6 of 101: dropped
    expect(() => countablePhrases([sample([2], twice)], phrases)).toThrow(/1 counts for 3 phrases/);
  });
});
