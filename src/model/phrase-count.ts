/**
 * Counting objects with the phrase detector. The detector is trained by noisy-OR over cells, so it
 * only has to fire on one cell of an image whose caption says "red circle"; but every red circle
 * looks alike, so in practice it fires on each of them. The number of separate blobs of cells above
 * COUNT_THRESHOLD in its map for "red circle" is then the number of red circles: on 500 fresh scenes
 * it matched the true count for 1,025 of 1,037 colour-shape pairs present (models/default/README.md).
 *
 * Not every phrase counts this way: "a large" fires on one large object, not each, and "circle and"
 * on no object in particular. Which phrases count is calibrated from captions alone
 * (countablePhrases): a phrase counts when its blob count seldom falls below the number of times a
 * reference caption of the image names it. Re-ranking then makes a caption that names one red
 * circle twice, where one was seen, pay as much as naming a phrase that is not there.
 */
import { phraseIndex, type Phrase, type PhraseLookup } from './phrases.js';

/** A cell whose phrase probability reaches this is part of a blob. */
export const COUNT_THRESHOLD = 0.2;

/**
 * A phrase counts when at most this fraction of its evidence (see countablePhrases) contradicts the
 * blobs, given at least MIN_COUNT_EVIDENCE pieces. On the shipped model's 10,000 training scenes the
 * colour-shape phrases contradicted 0-4% of their evidence (one, "pink circle", 10%) and "an orange"
 * 3.6%, while "a green" did 8%, "a red" 18%, "circle and" 88%, "a large" and "a small" 100%. With a
 * few pieces of evidence anything passes (on 100 scenes "a red" showed none), hence the minimum.
 */
export const MAX_COUNT_VIOLATION = 0.05;
export const MIN_COUNT_EVIDENCE = 20;

/** One blob of a phrase's map: its centre of mass (x, y in [0, 1] of the image) and its size in cells. */
export interface PhraseBlob {
  x: number;
  y: number;
  cells: number;
}

/**
 * [P]: how many separate blobs (8-connected cells with probability >= threshold) each phrase's map
 * has. `cells` is one image's [L, P] row-major cell probabilities on a grid x grid grid.
 */
export function phraseInstanceCounts(cells: Float32Array, grid: number, numPhrases: number, threshold = COUNT_THRESHOLD): Int32Array {
  return Int32Array.from(phraseBlobs(cells, grid, numPhrases, threshold), (blobs) => blobs.length);
}

/**
 * The blobs of each phrase's map, left to right (by centre x): where each object the phrase names is,
 * and how many cells it covers. Same inputs as phraseInstanceCounts.
 */
export function phraseBlobs(cells: Float32Array, grid: number, numPhrases: number, threshold = COUNT_THRESHOLD): PhraseBlob[][] {
  checkCells(cells, grid, numPhrases, 'phraseBlobs');
  return Array.from({ length: numPhrases }, (_, q) =>
    blobCells(cells, grid, numPhrases, q, threshold)
      .map((members) => {
        let [x, y, mass] = [0, 0, 0];
        for (const c of members) {
          const p = cells[c * numPhrases + q]!;
          x += p * ((c % grid) + 0.5);
          y += p * (Math.floor(c / grid) + 0.5);
          mass += p;
        }
        return { x: x / mass / grid, y: y / mass / grid, cells: members.length };
      })
      .sort((a, b) => a.x - b.x),
  );
}

export function checkCells(cells: Float32Array, grid: number, numPhrases: number, caller: string): void {
  if (cells.length !== grid * grid * numPhrases) throw new RangeError(`${caller}: ${cells.length} cell probabilities, expected ${grid * grid} cells x ${numPhrases} phrases`);
}

/** The 8-connected blobs of phrase q's cells at p >= threshold, each as its cell indices. */
export function blobCells(cells: Float32Array, grid: number, numPhrases: number, q: number, threshold = COUNT_THRESHOLD): number[][] {
  const l = grid * grid;
  const seen = new Uint8Array(l);
  const on = (c: number): boolean => cells[c * numPhrases + q]! >= threshold;
  const blobs: number[][] = [];
  for (let start = 0; start < l; start++) {
    if (seen[start] || !on(start)) continue;
    const members: number[] = [];
    const stack = [start];
    seen[start] = 1;
    while (stack.length > 0) {
      const c = stack.pop()!;
      members.push(c);
      const [row, col] = [Math.floor(c / grid), c % grid];
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const [r, k] = [row + dr, col + dc];
          if (r < 0 || r >= grid || k < 0 || k >= grid) continue;
          const n = r * grid + k;
          if (!seen[n] && on(n)) {
            seen[n] = 1;
            stack.push(n);
          }
        }
      }
    }
    blobs.push(members);
  }
  return blobs;
}

/** How many times a caption (word ids) names each phrase, by phrase index (`find`: phraseIndex of the list). */
export function phraseOccurrences(ids: readonly number[], find: PhraseLookup): Map<number, number> {
  const out = new Map<number, number>();
  for (let t = 0; t + 1 < ids.length; t++) {
    const q = find(ids[t]!, ids[t + 1]!);
    if (q !== undefined) out.set(q, (out.get(q) ?? 0) + 1);
  }
  return out;
}

/** One image of the calibration set: its blob counts and its reference captions (word ids). */
export interface CountingSample {
  counts: Int32Array;
  captions: ReadonlyArray<readonly number[]>;
}

/**
 * The phrases whose blob count can be trusted, from captions alone: every reference caption that
 * names a phrase k >= 2 times is evidence, and contradicts the blobs when they number fewer than k.
 * A phrase counts with at least MIN_COUNT_EVIDENCE pieces of evidence of which at most
 * MAX_COUNT_VIOLATION contradict. Sorted phrase indices.
 */
export function countablePhrases(samples: readonly CountingSample[], phrases: readonly Phrase[]): number[] {
  const find = phraseIndex(phrases);
  const evidence = new Int32Array(phrases.length);
  const violations = new Int32Array(phrases.length);
  for (const { counts, captions } of samples) {
    if (counts.length !== phrases.length) throw new RangeError(`countablePhrases: a sample has ${counts.length} counts for ${phrases.length} phrases`);
    for (const caption of captions) {
      for (const [q, k] of phraseOccurrences(caption, find)) {
        if (k < 2) continue;
        evidence[q]!++;
        if (counts[q]! < k) violations[q]!++;
      }
    }
  }
  return phrases.map((_, q) => q).filter((q) => evidence[q]! >= MIN_COUNT_EVIDENCE && violations[q]! <= MAX_COUNT_VIOLATION * evidence[q]!);
}
