import * as tf from '@tensorflow/tfjs';
import type { Vocabulary } from '../data/vocabulary.js';
import { detectorLogits, phraseLogits } from './loss.js';
import { phraseIndex, phraseOccurrences, type PhraseLookup } from './phrases.js';
import type { ShowAttendTell } from './show-attend-tell.js';

/**
 * Re-ranking a beam's finished captions with the model's own word detector, as Fang et al. (2015,
 * "From Captions to Visual Concepts and Back") re-rank sentences with their MIL word detectors. The
 * detector says, per image, how likely each word is to be in a caption of it, and per grid cell
 * where; a caption that leaves out a word the detector is sure of, names one it is sure is absent, or
 * puts side by side two words no one cell shows together, loses score. Why: a beam's finished
 * captions often include a right one that the decoder's own log-probability ranks below one that
 * leaves a detected word out or binds two words no single region shows; the detector, trained on
 * the same captions, sees those errors. In the search it is a re-scorer (src/decoding/detector-rescorer.ts).
 */

/** Presence probabilities below this (or above 1 - this) are not confident enough to count. */
export const DEFAULT_RERANK_CONFIDENCE = 0.8;

/** Floor of a probability inside the log: one confident disagreement costs at most log(1e3) ~ 6.9 per unit weight. */
const MIN_PROB = 1e-3;

/**
 * Weight and threshold of the pair term: two confidently present words side by side in a caption
 * ("purple star") should be seen in one cell; a pair whose best cell has p(w1) p(w2) >= 0.2 costs
 * nothing, below that it costs 0.3 log(p / 0.2). Tuned on held-out synthetic scenes (docs/research-history.md).
 */
const PAIR_WEIGHT = 0.3;
const PAIR_THRESHOLD = 0.2;

/** What the word detector says of one image. */
export interface DetectorView {
  /** [V]: P(word in a caption of the image), the noisy-OR over cells the detector is trained with. */
  presence: Float32Array;
  /** [L, V] row-major: each cell's own probability of each word, sigmoid(z_i(w)). */
  cells: Float32Array;
  /** Models with a phrase detector (config.phrases): P(phrase in a caption of the image), noisy-OR as for words. */
  phrases?: {
    presence: Float32Array;
    find: PhraseLookup;
  };
}

/**
 * The phrase term (models with a phrase detector): each distinct phrase a caption names whose
 * presence P is at most PHRASE_ABSENT costs PHRASE_RERANK_WEIGHT x log P (floored like the words).
 * Weights from 2 to 5 did about equally well on held-out scenes (docs/research-history.md); with the
 * phrase term the pair term adds nothing, so models with a phrase detector leave it out.
 */
export const PHRASE_RERANK_WEIGHT = 3;
export const PHRASE_ABSENT = 0.1;

/** The detector's view of every image of a batch of annotations [B, L, enc]. Frees what it makes. */
export function detectorViews(model: ShowAttendTell, features: tf.Tensor3D): DetectorView[] {
  const [b, l] = features.shape;
  const v = model.config.vocabSize;
  const phrases = model.config.phrases ?? [];
  // 1 - exp(-sum_i softplus(z_i)) = 1 - prod_i (1 - sigmoid(z_i)).
  const noisyOr = (z: tf.Tensor3D) => tf.sub(1, tf.exp(tf.neg(tf.sum(tf.softplus(z), 1))));
  // Computed in a tidy, read outside it: a tidy walks whatever its function returns, typed arrays included.
  const outputs = tf.tidy(() => {
    const z = detectorLogits(model, features);
    const zp = phrases.length > 0 ? phraseLogits(model, features) : undefined;
    return zp ? [noisyOr(z), tf.sigmoid(z), noisyOr(zp)] : [noisyOr(z), tf.sigmoid(z)];
  });
  let presence: Float32Array, cells: Float32Array, phrasePresence: Float32Array | undefined;
  try {
    [presence, cells, phrasePresence] = outputs.map((t) => t.dataSync() as Float32Array) as [Float32Array, Float32Array, Float32Array?];
  } finally {
    tf.dispose(outputs);
  }
  const n = phrases.length;
  const find = n > 0 ? phraseIndex(phrases) : undefined;
  return Array.from({ length: b }, (_, i) => ({
    presence: presence.slice(i * v, (i + 1) * v),
    cells: cells.slice(i * l * v, (i + 1) * l * v),
    ...(phrasePresence && find ? { phrases: { presence: phrasePresence.slice(i * n, (i + 1) * n), find } } : {}),
  }));
}

/**
 * How well a caption agrees with the detector (0 is full agreement, lower is worse):
 * - words: over the words the detector is confident about (P >= confidence: present, P <= 1 -
 *   confidence: absent), log P for those the caption has and log(1 - P) for those it lacks;
 * - pairs (models without a phrase detector): for each two adjacent caption words that are both
 *   confidently present, 0.3 log of how well one cell shows both (max over cells of p(w1) p(w2),
 *   relative to 0.2, capped at 0);
 * - phrases (models with a phrase detector): for each distinct phrase the caption names that the
 *   phrase detector is sure is absent (P <= PHRASE_ABSENT), PHRASE_RERANK_WEIGHT log P. A phrase
 *   left out costs nothing: a caption may describe an object without naming its colour.
 * Special tokens never count.
 */
export function detectorAgreement(ids: readonly number[], view: DetectorView, vocab: Vocabulary, confidence = DEFAULT_RERANK_CONFIDENCE): number {
  if (!(confidence > 0.5 && confidence < 1)) throw new RangeError(`rerank confidence must be in (0.5, 1) (got ${confidence})`);
  const { presence } = view;
  const v = presence.length;
  const special = new Set([vocab.padId, vocab.startId, vocab.endId, vocab.unkId]);
  const has = new Set(ids);
  let sum = 0;
  for (let w = 0; w < v; w++) {
    const p = presence[w]!;
    if (special.has(w) || (p < confidence && p > 1 - confidence)) continue;
    sum += Math.log(Math.max(has.has(w) ? p : 1 - p, MIN_PROB));
  }
  // The phrase detector learned what the cell pairs approximate: with it, pairs are not counted twice.
  if (!view.phrases) return sum + pairTerm(ids, view, (w) => !special.has(w) && presence[w]! >= confidence);
  return sum + phraseTerm(phraseOccurrences(ids, view.phrases.find), view.phrases.presence);
}

/** For each two adjacent words both confidently present, PAIR_WEIGHT log of how well one cell shows both. */
function pairTerm(ids: readonly number[], { presence, cells }: DetectorView, present: (w: number) => boolean): number {
  const v = presence.length;
  let sum = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    const [w1, w2] = [ids[t]!, ids[t + 1]!];
    if (!present(w1) || !present(w2)) continue;
    let best = 0;
    for (let cell = 0; cell < cells.length; cell += v) best = Math.max(best, cells[cell + w1]! * cells[cell + w2]!);
    sum += PAIR_WEIGHT * Math.log(Math.min(1, Math.max(best, MIN_PROB) / PAIR_THRESHOLD));
  }
  return sum;
}

/** For each distinct named phrase (by index: times named) the detector puts at P <= PHRASE_ABSENT, PHRASE_RERANK_WEIGHT log P. */
function phraseTerm(named: ReadonlyMap<number, number>, presence: Float32Array): number {
  let sum = 0;
  for (const q of named.keys()) {
    const p = presence[q]!;
    if (p <= PHRASE_ABSENT) sum += PHRASE_RERANK_WEIGHT * Math.log(Math.max(p, MIN_PROB));
  }
  return sum;
}
