import type * as tf from '@tensorflow/tfjs';
import type { Vocabulary } from '../data/vocabulary.js';
import type { ShowAttendTell } from '../model/show-attend-tell.js';
import type { BeamOptions, ModelConfig } from '../model/types.js';
import { detectorRescorer } from './detector-rescorer.js';
import type { LogitsProcessor, Rescorer, SearchHooks } from './hooks.js';
import { banSpecialTokens } from './processors.js';
import { lengthPenalty } from './rescorers.js';

/**
 * How the captioning pipeline decodes, as plain data (it crosses worker threads and goes into
 * reports): the search's own options plus the settings of the hooks it builds (captionHooks), as a
 * generation config names the processors a generation library builds.
 */
export interface CaptionOptions extends BeamOptions {
  /** a > 0 divides each finished caption's score by its length^a (rescorers.ts); default 0. */
  lengthPenalty?: number;
  /**
   * Weight of the word detector's agreement in the final ranking (detector-rescorer.ts); 0 ranks as
   * the reference. Default: DEFAULT_DETECTOR_RERANK for models with a word detector, else 0.
   */
  detectorRerank?: number;
}

/** The detector re-ranking weight of a model with a word detector when CaptionOptions.detectorRerank is absent. */
export const DEFAULT_DETECTOR_RERANK = 1;

/** The re-ranking weight captioning uses for a model when none is given. */
export function defaultDetectorRerank(config: Pick<ModelConfig, 'wordDetector'>): number {
  return config.wordDetector === true ? DEFAULT_DETECTOR_RERANK : 0;
}

/**
 * The hooks captioning runs the search with: <pad> and <start> banned at every step; then, over the
 * finished captions, the length penalty and the detector's agreement, in that order. `features` are
 * the batch's annotations (the detector reads them); the result is for that batch only.
 */
export function captionHooks(model: ShowAttendTell, features: tf.Tensor3D, vocab: Vocabulary, opts: CaptionOptions): SearchHooks {
  const processors: LogitsProcessor[] = [banSpecialTokens(vocab)];
  const rescorers: Rescorer[] = [];
  const alpha = opts.lengthPenalty ?? 0;
  if (!(alpha >= 0)) throw new RangeError(`lengthPenalty must be >= 0 (got ${alpha})`);
  if (alpha > 0) rescorers.push(lengthPenalty(alpha));
  const weight = opts.detectorRerank ?? defaultDetectorRerank(model.config);
  // detectorRescorer validates the weight (and refuses a model without a detector) for every caller.
  if (weight !== 0) rescorers.push(detectorRescorer(model, features, vocab, weight));
  return { logitsProcessors: processors, rescorers };
}
