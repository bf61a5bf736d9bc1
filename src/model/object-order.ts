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
import type * as tf from '@tensorflow/tfjs';
import { blobCells, checkCells, COUNT_THRESHOLD } from './phrase-count.js';
import { phraseIndex, type Phrase } from './phrases.js';
import type { ShowAttendTell } from './show-attend-tell.js';
import { phraseProbabilities } from './twin-marks.js';
import type { Vocabulary } from '../data/vocabulary.js';

/**
 * How far apart (of the image's width) two kinds of object must be for the search to favour one. On
 * fresh seed 8089 (eighteenth round, group bonus 4, order bonus 4) BLEU-4 was 0.950 with 0, 0.945
 * with 0.02 and 0.943 with 0.04: even objects a pixel or two apart are ordered right more often
 * than not (22 of 32 pairs under 2 pixels), so by default every pair is ordered.
 */
export const DEFAULT_ORDER_MARGIN = 0;

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
  /**
   * Whether a caption may name two or more of them as one ("two red squares"): at least two objects,
   * and, where the detector knows sizes (objectSize), two of one size.
   */
  groupable: boolean;
  /** Each object's size, left to right: 1 large, -1 small, 0 not told (objectSize, SIZE_MARGIN). */
  sizes: number[];
}

/** The most probable cell of a blob (`members`) of phrase q's map. */
function peakCell(cells: Float32Array, numPhrases: number, q: number, members: readonly number[]): number {
  return members.reduce((a, c) => (cells[c * numPhrases + q]! > cells[a * numPhrases + q]! ? c : a));
}

/** The cells of the 3x3 block around `cell` that lie on the grid. */
function around(cell: number, grid: number): number[] {
  const [px, py] = [cell % grid, Math.floor(cell / grid)];
  const out: number[] = [];
  for (let y = Math.max(0, py - 1); y <= Math.min(grid - 1, py + 1); y++) {
    for (let x = Math.max(0, px - 1); x <= Math.min(grid - 1, px + 1); x++) out.push(y * grid + x);
  }
  return out;
}

/**
 * x in [0, 1] of the object whose blob is `members` in phrase q's map: over the 3x3 cells around the
 * blob's most probable cell, the probability-weighted mean of the cells' centres, cells below the
 * blob threshold included (they are what places the object within its cell).
 */
export function objectCentreX(cells: Float32Array, grid: number, numPhrases: number, q: number, members: readonly number[]): number {
  let [sum, mass] = [0, 0];
  for (const c of around(peakCell(cells, numPhrases, q, members), grid)) {
    const p = cells[c * numPhrases + q]!;
    sum += p * ((c % grid) + 0.5);
    mass += p;
  }
  return sum / mass / grid;
}

/**
 * How large the object of blob `members` (of phrase q) looks: around its peak, the highest
 * probability of the phrase "large <colour>" minus that of "small <colour>" (phrases `large`,
 * `small`); > 0 large, < 0 small. On a model whose detector learned sizes from annotator 1's
 * captions (eighteenth round), it told the large one of 35 of 35 pairs of twins of two sizes.
 */
export function objectSize(cells: Float32Array, grid: number, numPhrases: number, q: number, members: readonly number[], large: number, small: number): number {
  const best = (phrase: number, cellsAround: number[]) => Math.max(...cellsAround.map((c) => cells[c * numPhrases + phrase]!));
  const near = around(peakCell(cells, numPhrases, q, members), grid);
  return best(large, near) - best(small, near);
}

/**
 * objectSize scores within this of 0 say neither size: a detector that never learned sizes (trained on
 * annotator 0's captions alone, which name sizes only for twins of two sizes) scores every object
 * within 0.036 of 0 (seed 8089), one that learned them 0.055-0.63 for 90% of objects.
 */
export const SIZE_MARGIN = 0.04;

/** Word ids of the size words, whose phrases with a colour ("large red") tell an object's size. */
export interface SizeWords {
  large: number;
  small: number;
}

/** The ids of "large" and "small" in `vocab`, or undefined when it lacks either. */
export function sizeWordsOf(vocab: Vocabulary): SizeWords | undefined {
  const [large, small] = [vocab.idOf('large'), vocab.idOf('small')];
  return large !== vocab.unkId && small !== vocab.unkId ? { large, small } : undefined;
}

/**
 * The kinds of object one image shows, left to right: `cells` is its [L, P] row-major phrase
 * probabilities on a grid x grid grid, `objectPhrases` the phrases that name one object each
 * (config.twinMarks: colour and shape). With `sizeWords`, a kind whose phrases "large <colour>" and
 * "small <colour>" exist is groupable only when two of its objects look one size (objectSize), or
 * one of them looks neither (SIZE_MARGIN).
 */
export function objectKinds(cells: Float32Array, grid: number, phrases: readonly Phrase[], objectPhrases: readonly number[], sizeWords?: SizeWords, threshold = COUNT_THRESHOLD): ObjectKind[] {
  const n = phrases.length;
  checkCells(cells, grid, n, 'objectKinds');
  const find = phraseIndex(phrases);
  const kinds: ObjectKind[] = [];
  for (const q of objectPhrases) {
    const blobs = blobCells(cells, grid, n, q, threshold);
    if (blobs.length === 0) continue;
    const [first, second] = phrases[q]!;
    const [large, small] = sizeWords ? [find(sizeWords.large, first), find(sizeWords.small, first)] : [];
    const size = (b: number[]) => (large !== undefined && small !== undefined ? objectSize(cells, grid, n, q, b, large, small) : 0);
    const objects = blobs.map((b) => ({ x: objectCentreX(cells, grid, n, q, b), score: size(b) })).sort((a, b) => a.x - b.x);
    // A size in the margin could be either, and so matches any other.
    const sizes = objects.map(({ score }) => (Math.abs(score) <= SIZE_MARGIN ? 0 : Math.sign(score)));
    const groupable = blobs.length >= 2 && sizes.some((z, i) => z === 0 || sizes.indexOf(z) !== i);
    kinds.push({ phrase: q, first, second, x: objects[0]!.x, objects: blobs.length, groupable, sizes });
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
 * The word to favour after `ids`, so that a caption names the kinds of object left to right:
 * - when the last word starts a kind not yet fully named, the second word of the leftmost such kind
 *   (none if that kind has several objects: a caption may complete it in the plural, "two red squares");
 * - otherwise the first word of the leftmost kind not yet fully named; after a count word
 *   (`countWords[n - 2]` says n: "two", "three") that of the leftmost groupable kind;
 * - with `sizeWords`, a kind of several objects of two sizes is named object by object, each with its
 *   size ("a large red square and a small red square"): its next object's size word comes first.
 * None when every kind is named, or when the next such kind (another word to favour) lies less than
 * `margin` (of the image's width) to the right, too close to order.
 */
export function nextObjectWord(kinds: readonly ObjectKind[], ids: readonly number[], margin: number, countWords: readonly (number | undefined)[] = [], sizeWords?: SizeWords): number | undefined {
  const named = namedObjects(kinds, ids);
  const open = kinds.filter((k, i) => named[i]! < k.objects);
  const last = ids[ids.length - 1];
  const started = open.filter((k) => k.first === last);
  const counted = last !== undefined && countWords.includes(last);
  const [choices, word] = started.length > 0 ? [started, (k: ObjectKind) => k.second] : [counted ? open.filter((k) => k.groupable) : open, (k: ObjectKind) => k.first];
  const best = choices[0];
  if (!best || (started.length > 0 && best.objects >= 2)) return undefined;
  const rival = choices.find((k) => word(k) !== word(best));
  if (rival && rival.x - best.x < margin) return undefined;
  if (started.length > 0 || counted || best.objects < 2 || best.groupable || !sizeWords || last === sizeWords.large || last === sizeWords.small) return word(best);
  const size = best.sizes[named[kinds.indexOf(best)]!] ?? 0;
  return size > 0 ? sizeWords.large : size < 0 ? sizeWords.small : word(best);
}

/**
 * Per image of `features` [B, L, enc]: the kinds of object its phrase detector sees (unmarked
 * annotations, or `cells` from phraseProbabilities), left to right, their sizes told by the phrases
 * of `vocab`'s "large" and "small".
 */
export function readObjectKinds(model: ShowAttendTell, features: tf.Tensor3D, vocab: Vocabulary, cells = phraseProbabilities(model, features)): ObjectKind[][] {
  const { gridSize: grid, phrases = [], twinMarks = [] } = model.config;
  const per = grid * grid * phrases.length;
  const sizes = sizeWordsOf(vocab);
  return Array.from({ length: features.shape[0] }, (_, i) => objectKinds(cells.subarray(i * per, (i + 1) * per), grid, phrases, twinMarks, sizes));
}
