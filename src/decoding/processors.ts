import * as tf from '@tensorflow/tfjs';
import type { LogitsProcessor } from './hooks.js';

/**
 * Bans the given word ids at every step (their scores become -Infinity), like Hugging Face's
 * SuppressTokensLogitsProcessor.
 */
export function banTokens(ids: readonly number[], vocabSize: number): LogitsProcessor {
  const mask = new Float32Array(vocabSize);
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new RangeError(`banTokens: id ${id} is outside the vocabulary [0, ${vocabSize})`);
    mask[id] = -Infinity;
  }
  return { process: (logProbs) => tf.add(logProbs, tf.tensor2d(mask, [1, vocabSize])) };
}

/**
 * Bans the tokens that are never words of a caption (<pad> and the start token): an undertrained
 * model can still rank them high, and emitting one would leave a hypothesis whose attention maps and
 * words disagree. The captioning pipeline uses it by default; the bare search does not, so that it
 * reproduces the reference exactly.
 */
export function banSpecialTokens(vocab: { padId: number; startId: number; size: number }): LogitsProcessor {
  return banTokens([vocab.padId, vocab.startId], vocab.size);
}
