/**
 * Order guidance: every annotator names objects left to right by their centres' x, and a model
 * trained for 30 minutes names them out of order in ~10% of captions (49 of the 60 wrong captions of
 * scenes without twins on fresh seed 8089, eighteenth round). The phrase detector knows where each
 * object is: its map for "red square" has a blob on each red square (phrase-count.ts). A blob is one
 * or two cells of 8 pixels, but the cells around its peak, though below the blob's threshold, still
 * respond in proportion to how much of the object they see: their probability-weighted x places the
 * object within its cell (pairs of objects 2-4 pixels apart ordered right 36 of 41 times on seed
 * 8089, against 21 of 41 by the blob's own cells).
 *
 * Beam search (BeamOptions.orderBonus) then adds a bonus to the word that starts naming the leftmost
 * kind of object the hypothesis has not named yet, and once its first word is out, to the word that
 * completes it. Like the twin marks it reads the detector's probabilities, never boxes.
 */
import * as tf from '@tensorflow/tfjs';
import { phraseLogits } from './loss.js';
import { blobCells, checkCells, COUNT_THRESHOLD } from './phrase-count.js';
import type { Phrase } from './phrases.js';
import type { ShowAttendTell } from './show-attend-tell.js';

/**
 * How far apart (of the image's width) two kinds of object must be for the search to favour one:
 * chosen on fresh seed 8089 (eighteenth round).
 */
export const DEFAULT_ORDER_MARGIN = 0.02;

/** One kind of object the phrase detector sees: a phrase of config.twinMarks with at least one blob. */
export interface ObjectKind {
  /** The phrase's index in config.phrases, and its two word ids. */
  phrase: number;
  first: number;
  second: number;
  /** Centre x in [0, 1] of its leftmost object (objectCentreX), where a caption names the kind. */
  x: number;
  /** How many objects (blobs) of the kind there are. */
  objects: number;
}

/**
 * x in [0, 1] of the object whose blob is `members` in phrase q's map: over the 3x3 cells around the
 * blob's most probable cell, the probability-weighted mean of the cells' centres, cells below the
 * blob threshold included (they are what places the object within its cell).
 */
export function objectCentreX(cells: Float32Array, grid: number, numPhrases: number, q: number, members: readonly number[]): number {
  const p = (c: number) => cells[c * numPhrases + q]!;
  const peak = members.reduce((a, c) => (p(c) > p(a) ? c : a));
  const [px, py] = [peak % grid, Math.floor(peak / grid)];
  let [sum, mass] = [0, 0];
  for (let y = Math.max(0, py - 1); y <= Math.min(grid - 1, py + 1); y++) {
    for (let x = Math.max(0, px - 1); x <= Math.min(grid - 1, px + 1); x++) {
      sum += p(y * grid + x) * (x + 0.5);
      mass += p(y * grid + x);
    }
  }
  return sum / mass / grid;
}

/**
 * The kinds of object one image shows, left to right: `cells` is its [L, P] row-major phrase
 * probabilities on a grid x grid grid, `objectPhrases` the phrases that name one object each
 * (config.twinMarks: colour and shape).
 */
export function objectKinds(cells: Float32Array, grid: number, phrases: readonly Phrase[], objectPhrases: readonly number[], threshold = COUNT_THRESHOLD): ObjectKind[] {
  const n = phrases.length;
  checkCells(cells, grid, n, 'objectKinds');
  const kinds: ObjectKind[] = [];
  for (const q of objectPhrases) {
    const blobs = blobCells(cells, grid, n, q, threshold);
    if (blobs.length === 0) continue;
    const [first, second] = phrases[q]!;
    kinds.push({ phrase: q, first, second, x: Math.min(...blobs.map((b) => objectCentreX(cells, grid, n, q, b))), objects: blobs.length });
  }
  return kinds.sort((a, b) => a.x - b.x);
}

/**
 * How many objects of each kind (by index in `kinds`) the words `ids` have named: each time a kind's
 * two words follow each other, one; a kind of two or more objects whose first word is followed by a
 * word that completes no kind ("two red squares": a plural), all of them.
 */
export function namedObjects(kinds: readonly ObjectKind[], ids: readonly number[]): number[] {
  const named = kinds.map(() => 0);
  for (let t = 0; t + 1 < ids.length; t++) {
    const [a, b] = [ids[t]!, ids[t + 1]!];
    const exact = kinds.findIndex((k) => k.first === a && k.second === b);
    if (exact >= 0) {
      named[exact]!++;
      continue;
    }
    kinds.forEach((k, i) => {
      if (k.first === a && k.objects >= 2) named[i] = k.objects;
    });
  }
  return named;
}

/**
 * The word to favour after `ids`: when the last word starts a kind not yet fully named, the second
 * word of the leftmost such kind; otherwise the first word of the leftmost kind not yet fully named,
 * and after a word of `countWords` ("two", "three") of the leftmost such kind of several objects.
 * None when every kind is named; when the next such kind (another word to favour) lies less than
 * `margin` (of the image's width) to the right, too close to order; and after the first word of a
 * kind of several objects, which a caption may complete in the plural ("two red squares").
 */
export function nextObjectWord(kinds: readonly ObjectKind[], ids: readonly number[], margin: number, countWords: ReadonlySet<number> = new Set()): number | undefined {
  const named = namedObjects(kinds, ids);
  const open = kinds.filter((k, i) => named[i]! < k.objects);
  const last = ids[ids.length - 1];
  const started = open.filter((k) => k.first === last);
  const counted = last !== undefined && countWords.has(last);
  const [choices, word] = started.length > 0 ? [started, (k: ObjectKind) => k.second] : [counted ? open.filter((k) => k.objects >= 2) : open, (k: ObjectKind) => k.first];
  const best = choices[0];
  if (!best || (started.length > 0 && best.objects >= 2)) return undefined;
  const rival = choices.find((k) => word(k) !== word(best));
  return rival && rival.x - best.x < margin ? undefined : word(best);
}

/** Per image of `features` [B, L, enc]: the kinds of object its phrase detector sees (unmarked annotations), left to right. */
export function readObjectKinds(model: ShowAttendTell, features: tf.Tensor3D): ObjectKind[][] {
  const { gridSize: grid, phrases = [], twinMarks = [] } = model.config;
  const cells = tf.tidy(() => tf.sigmoid(phraseLogits(model, features)).dataSync() as Float32Array);
  const per = grid * grid * phrases.length;
  return Array.from({ length: features.shape[0] }, (_, i) => objectKinds(cells.subarray(i * per, (i + 1) * per), grid, phrases, twinMarks));
}
