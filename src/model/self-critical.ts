/**
 * Self-critical sequence training (Rennie et al. 2017), in the form the Meshed-Memory Transformer
 * (Cornia et al. 2020) uses: the k captions of a beam search are the samples, each is rewarded by how
 * well it matches the image's references, and the mean reward of the k is the baseline, so a caption
 * better than its siblings is made more likely and a worse one less. Teacher forcing makes the model
 * predict each reference word given the one before; it never sees its own whole captions, and with
 * references in several annotators' wordings it learns a blend of them. The reward asks for one
 * whole caption that a reference would say. Only captions reach the reward: no box or location.
 */
import { closestRefLength, ngramCounts } from '../metrics/bleu.js';
import type { CaptionTargets } from './loss.js';

/**
 * The reward: one caption's BLEU-4 against its references, NLTK's clipping and brevity penalty, with
 * one change for short captions. The geometric mean runs over the orders the caption has n-grams
 * of, so "a red circle", word for word a reference, scores 1, not the ~0 that NLTK's sentence BLEU-4
 * gives a caption without a 4-gram. Unsmoothed otherwise: an order with no match gives 0.
 */
export function sentenceBleu4(caption: readonly string[], references: readonly (readonly string[])[]): number {
  if (caption.length === 0 || references.length === 0) return 0;
  let logSum = 0;
  let orders = 0;
  for (let n = 1; n <= Math.min(4, caption.length); n++) {
    const counts = ngramCounts(caption, n);
    const refCounts = references.map((r) => ngramCounts(r, n));
    let clipped = 0;
    let total = 0;
    for (const [gram, count] of counts) {
      clipped += Math.min(count, Math.max(...refCounts.map((rc) => rc.get(gram) ?? 0)));
      total += count;
    }
    if (clipped === 0) return 0;
    logSum += Math.log(clipped / total);
    orders++;
  }
  const r = closestRefLength(references, caption.length);
  const brevity = caption.length >= r ? 1 : Math.exp(1 - r / caption.length);
  return brevity * Math.exp(logSum / orders);
}

/**
 * The reward: the caption's BLEU-4 against the one reference it matches best. Multi-reference BLEU
 * clips each n-gram by its count in any reference, so a caption that stitches two annotators' styles
 * together scores as well as one that says what a single annotator would, and a model rewarded that
 * way learns such blends. Scored against each reference alone, only a whole annotator's caption
 * earns the full reward.
 */
export function bestReferenceBleu4(caption: readonly string[], references: readonly (readonly string[])[]): number {
  return references.reduce((best, r) => Math.max(best, sentenceBleu4(caption, [r])), 0);
}

/** The rewards minus their mean: what each of one image's captions did better than its siblings. */
export function advantages(rewards: readonly number[]): number[] {
  if (rewards.length === 0) return [];
  const mean = rewards.reduce((a, r) => a + r, 0) / rewards.length;
  return rewards.map((r) => r - mean);
}

/** One image's sampled captions (ids as the search emitted them: words, then <end> if finished) and their rewards. */
export interface RewardedCaptions {
  captions: readonly (readonly number[])[];
  rewards: readonly number[];
}

/** The policy-gradient batch: one row per caption whose advantage is not 0. */
export interface SelfCriticalBatch {
  targets: CaptionTargets;
  /** [rows]: the image (index into the groups) each row's caption belongs to. */
  rowImage: Int32Array;
  /** [steps * rows], time-major as prepareTargets lays targets out: the row's advantage on its real targets. */
  tokenWeights: Float32Array;
}

/**
 * Lays out the captions with a non-zero advantage as teacher-forcing rows (<start> ids.. <pad>..) with
 * their advantages as token weights; undefined when every image's captions were rewarded alike.
 */
export function selfCriticalBatch(groups: readonly RewardedCaptions[], startId: number, padId: number): SelfCriticalBatch | undefined {
  const rows: { ids: readonly number[]; image: number; advantage: number }[] = [];
  groups.forEach((g, image) => {
    if (g.captions.length !== g.rewards.length) throw new RangeError(`image ${image}: ${g.captions.length} captions but ${g.rewards.length} rewards`);
    advantages(g.rewards).forEach((a, j) => {
      const ids = g.captions[j]!;
      if (ids.length > 0 && Math.abs(a) > 1e-9) rows.push({ ids, image, advantage: a });
    });
  });
  if (rows.length === 0) return undefined;
  const targets = captionRows(rows.map((r) => r.ids), startId, padId);
  const b = rows.length;
  const rowImage = Int32Array.from(rows, (r) => r.image);
  const steps = targets.captions.length / b - 1;
  const tokenWeights = new Float32Array(steps * b);
  for (let t = 0; t < steps; t++) {
    rows.forEach((r, i) => {
      if (t < r.ids.length) tokenWeights[t * b + i] = r.advantage;
    });
  }
  return { targets, rowImage, tokenWeights };
}

/** Captions (ids, then <end> if they have one) as teacher-forcing rows: <start> ids.. <pad>.., each length 1 + ids. */
export function captionRows(captions: readonly (readonly number[])[], startId: number, padId: number): CaptionTargets {
  if (captions.length === 0 || captions.some((c) => c.length === 0)) throw new RangeError('captionRows: needs at least one caption, none of them empty');
  const width = 1 + Math.max(...captions.map((c) => c.length));
  const b = captions.length;
  const ids = new Int32Array(b * width).fill(padId);
  const lengths = new Int32Array(b);
  captions.forEach((c, i) => {
    ids[i * width] = startId;
    ids.set(c, i * width + 1);
    lengths[i] = c.length + 1;
  });
  return { batchSize: b, captions: ids, lengths };
}
