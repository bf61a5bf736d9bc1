import type * as tf from '@tensorflow/tfjs';
import type { Vocabulary } from '../data/vocabulary.js';
import { detectorAgreement, detectorViews } from '../model/detector-rerank.js';
import type { ShowAttendTell } from '../model/show-attend-tell.js';
import type { Rescorer } from './hooks.js';

/**
 * The word-detector re-ranking of Fang et al. (2015) as a re-scorer: each finished hypothesis gains
 * `weight` x its agreement with the model's own word (and phrase) detector on its image
 * (detector-rerank.ts). Reads the detector once, here, for the whole batch of `features`; frees
 * what it makes and keeps no tensor.
 */
export function detectorRescorer(model: ShowAttendTell, features: tf.Tensor3D, vocab: Vocabulary, weight: number): Rescorer {
  if (!(weight >= 0)) throw new RangeError(`detectorRerank must be >= 0 (got ${weight})`);
  if (model.config.wordDetector !== true) throw new RangeError('detectorRerank needs a model trained with a word detector (config.wordDetector); this one has none');
  const views = detectorViews(model, features);
  return { rescore: (image, hypotheses) => hypotheses.map((h) => h.score + weight * detectorAgreement(h.ids, views[image]!, vocab)) };
}
