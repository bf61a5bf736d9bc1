/**
 * The extension seam of beam search, shaped like the logits processors and re-rankers of the common
 * generation libraries (Hugging Face transformers' LogitsProcessor, transformers.js): a per-step
 * hook on the log-probabilities and a final re-scoring hook. The search itself knows no word of any
 * vocabulary beyond the start and end tokens; whatever steers or re-ranks it is passed in here.
 */
import type * as tf from '@tensorflow/tfjs';
import type { Hypothesis } from '../model/types.js';

/** What a logits processor knows of the step it is called at. */
export interface StepInfo {
  /** 1 at the first word after the start token. */
  readonly step: number;
  /** k: rows i*k .. i*k + k - 1 of the log-probs belong to image i. */
  readonly beamSize: number;
  /**
   * The word ids row `row` has emitted so far (without the start token; [] at step 1), or null for a
   * row that holds no hypothesis (its cumulative score is -Infinity, so nothing it proposes survives).
   */
  tokens(row: number): readonly number[] | null;
}

/**
 * A per-step hook: given the [rows, V] log-probabilities of the next word (log_softmax of the
 * decoder's logits, before the rows' cumulative scores are added), returns the [rows, V] scores the
 * search ranks by. Called inside tf.tidy, so it must be synchronous; every tensor it makes is freed.
 * Processors run in order, each on the previous one's output. Adding -Infinity bans a word.
 */
export interface LogitsProcessor {
  process(logProbs: tf.Tensor2D, info: StepInfo): tf.Tensor2D;
}

/**
 * A final hook: sees one image's finished hypotheses (each with its current score, which starts as
 * its summed log-probability) and returns their new scores, in the same order. Re-scorers run in
 * order; the best hypothesis is the one with the highest final score. Unfinished hypotheses (the
 * step cap was reached) are never re-scored: they rank by log-probability after every finished one.
 */
export interface Rescorer {
  rescore(image: number, hypotheses: readonly Hypothesis[]): readonly number[];
}

export interface SearchHooks {
  logitsProcessors?: readonly LogitsProcessor[];
  rescorers?: readonly Rescorer[];
}
