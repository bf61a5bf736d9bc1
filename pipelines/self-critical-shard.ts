/**
 * One shard of a self-critical step, the same on the owner's thread and on a worker's: k captions per
 * image by beam search, their rewards, and the gradients of the policy loss at the current weights.
 */
import * as tf from '@tensorflow/tfjs';
import type { CaptionedImage, PreparedImage } from '../src/data/types.js';
import type { Vocabulary } from '../src/data/vocabulary.js';
import { banSpecialTokens, beamSearch } from '../src/decoding/index.js';
import { encodeImages, type ShardGradients, type ShowAttendTell, type Trainer } from '../src/model/index.js';
import { bestReferenceBleu4, selfCriticalBatch } from '../src/model/self-critical.js';

/** Longest caption searched, as in evaluation. */
export const SEARCH_STEPS = 50;

export interface PolicyShard {
  /** Sum of the searched captions' rewards, and how many there were. */
  rewardSum: number;
  captions: number;
  /** Captions with a non-zero advantage: the rows of the policy loss. */
  rows: number;
  /** The policy loss's gradients; undefined when every image's captions were rewarded alike. */
  gradients?: ShardGradients;
}

export async function policyShard(model: ShowAttendTell, vocab: Vocabulary, trainer: Trainer, batch: readonly CaptionedImage[], images: PreparedImage[], k: number): Promise<PolicyShard> {
  const features = encodeImages(model, images);
  try {
    const results = await beamSearch(model, features, vocab, { beamSize: k, maxSteps: SEARCH_STEPS, returnAlternatives: k }, { logitsProcessors: [banSpecialTokens(vocab)] });
    const groups = results.map((r, j) => ({
      captions: r.alternatives.map((h) => h.ids),
      rewards: r.alternatives.map((h) => bestReferenceBleu4(h.words, batch[j]!.captions)),
    }));
    const rewards = groups.flatMap((g) => g.rewards);
    const shard = { rewardSum: rewards.reduce((a, r) => a + r, 0), captions: rewards.length, rows: 0 };
    const sc = selfCriticalBatch(groups, vocab.startId, vocab.padId);
    if (!sc) return shard;
    const rows = tf.tidy(() => tf.gather(features, tf.tensor1d(sc.rowImage, 'int32')) as tf.Tensor3D);
    try {
      return { ...shard, rows: sc.targets.batchSize, gradients: await trainer.weightedDecoderGradients(rows, sc.targets, sc.tokenWeights) };
    } finally {
      rows.dispose();
    }
  } finally {
    features.dispose();
  }
}
