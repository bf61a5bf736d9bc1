import type { Rescorer } from './hooks.js';

/**
 * Length normalisation (Wu et al. 2016 use a smoothed form; this is the plain one): each finished
 * hypothesis's score is divided by its length (words plus <end>) to the power `alpha`. alpha 0
 * leaves the scores alone, as the reference ranks; larger alpha favours longer captions.
 */
export function lengthPenalty(alpha: number): Rescorer {
  if (!(alpha >= 0)) throw new RangeError(`lengthPenalty must be >= 0 (got ${alpha})`);
  return { rescore: (_image, hypotheses) => hypotheses.map((h) => (alpha > 0 ? h.score / Math.pow(h.ids.length, alpha) : h.score)) };
}
