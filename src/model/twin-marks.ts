/**
 * Twin marks: each annotation learns whether its object has a twin. Annotator 0 groups objects of
 * one colour and shape ("there are two red squares and ..."), and decides "is" or "are two" on the
 * second word, before the decoder has looked at the second twin. A cell sees ~22 pixels, so no
 * annotation says that another object like it exists elsewhere, and without that the decoder never
 * learned to group (sixteenth round: 1 of 1,000 captions said "two").
 *
 * The phrase detector already counts: its map for "red square" has one blob per red square
 * (phrase-count.ts). So the encoder's output gains, in learned directions (zero at first, so a new
 * model starts as one without marks), three facts per cell read from the blobs of the marked phrases
 * (config.twinMarks): the cell is in a blob of a phrase with two or more blobs; with three or more;
 * and the log of the ratio between that phrase's largest and smallest blob (twins of two sizes,
 * which annotator 0 names with their sizes). The marks are read from the detector's probabilities,
 * never from boxes, and carry no gradient: the detector learns only from its own loss.
 */
import * as tf from '@tensorflow/tfjs';
import { blobCells, checkCells, COUNT_THRESHOLD } from './phrase-count.js';
import { phraseLogits } from './loss.js';
import type { ShowAttendTell } from './show-attend-tell.js';

/** Marks per cell: [has a twin, has two twins, log(largest / smallest blob)]. */
export const TWIN_MARKS = 3;
/**
 * With order marks (config.orderMarks) two more: [in an object's blob, that blob's centre x in
 * [-1, 1]]. Annotators name objects by their centres' x; a cell is 8 pixels wide, and ~10% of
 * captions named objects whose centres lie 1-5 pixels apart out of order (seventeenth round).
 * The blob's probability-weighted centre places the object within its cell.
 */
export const ORDER_MARKS = 2;

/** How many marks a model with these options reads. */
export function markCount(orderMarks: boolean | undefined): number {
  return TWIN_MARKS + (orderMarks ? ORDER_MARKS : 0);
}

/**
 * [L * markCount(true)] for one image: `cells` is its [L, P] row-major phrase probabilities on a grid
 * x grid grid, `marked` the phrases whose blobs count objects. A cell in blobs of several marked
 * phrases takes the largest of each twin mark, and the order marks of the phrase most probable there.
 */
export function twinMarkCells(cells: Float32Array, grid: number, numPhrases: number, marked: readonly number[], threshold = COUNT_THRESHOLD): Float32Array {
  checkCells(cells, grid, numPhrases, 'twinMarkCells');
  const n = markCount(true);
  const marks = new Float32Array(grid * grid * n);
  const owner = new Float32Array(grid * grid);
  for (const q of marked) {
    const blobs = blobCells(cells, grid, numPhrases, q, threshold);
    const sizes = blobs.map((b) => b.length);
    const twin = blobs.length < 2 ? [0, 0, 0] : [1, blobs.length >= 3 ? 1 : 0, Math.log(Math.max(...sizes) / Math.min(...sizes))];
    for (const blob of blobs) {
      let [x, mass] = [0, 0];
      for (const c of blob) {
        const p = cells[c * numPhrases + q]!;
        x += p * (((c % grid) + 0.5) / grid * 2 - 1);
        mass += p;
      }
      for (const c of blob) {
        for (let k = 0; k < TWIN_MARKS; k++) marks[c * n + k] = Math.max(marks[c * n + k]!, twin[k]!);
        const p = cells[c * numPhrases + q]!;
        if (p <= owner[c]!) continue;
        owner[c] = p;
        marks[c * n + TWIN_MARKS] = 1;
        marks[c * n + TWIN_MARKS + 1] = x / mass;
      }
    }
  }
  return marks;
}

/**
 * Per image of a batch: its marks [L * markCount(true)] from `cells`, the batch's [B, L, P] row-major
 * phrase probabilities on a grid x grid grid.
 */
export function batchTwinMarks(cells: Float32Array, b: number, grid: number, numPhrases: number, marked: readonly number[]): Float32Array[] {
  const per = grid * grid * numPhrases;
  return Array.from({ length: b }, (_, i) => twinMarkCells(cells.subarray(i * per, (i + 1) * per), grid, numPhrases, marked));
}

/** [B, L, P] row-major: the phrase detector's cell probabilities for `features` [B, L, enc] (unmarked annotations). */
export function phraseProbabilities(model: ShowAttendTell, features: tf.Tensor3D): Float32Array {
  return tf.tidy(() => tf.sigmoid(phraseLogits(model, features)).dataSync() as Float32Array);
}

/**
 * Per image of `features` [B, L, enc]: its marks, read from the model's phrase detector (unmarked
 * annotations), or from `cells` (phraseProbabilities) when the caller has them.
 */
export function readTwinMarks(model: ShowAttendTell, features: tf.Tensor3D, cells = phraseProbabilities(model, features)): Float32Array[] {
  return batchTwinMarks(cells, features.shape[0], model.config.gridSize, model.config.phrases?.length ?? 0, model.config.twinMarks ?? []);
}

/**
 * features [B, L, enc] -> features + marks · kernel, with `marks` one per image (readTwinMarks).
 * kernel is [markCount(orderMarks), enc]: its rows say which marks are read. Caller owns the result.
 * Inside the trainer's variableGrads the marks are data: the gradient reaches the kernel and passes
 * through to the features unchanged.
 */
export function addTwinMarks(features: tf.Tensor3D, marks: readonly Float32Array[], kernel: tf.Variable): tf.Tensor3D {
  const [b, l, enc] = features.shape;
  const used = kernel.shape[0]!;
  const n = markCount(true);
  const rows = new Float32Array(b * l * used);
  marks.forEach((all, i) => {
    for (let c = 0; c < l; c++) rows.set(all.subarray(c * n, c * n + used), (i * l + c) * used);
  });
  return tf.tidy(() => tf.add(features, tf.reshape(tf.matMul(tf.tensor2d(rows, [b * l, used]), kernel as tf.Tensor2D), [b, l, enc])));
}
