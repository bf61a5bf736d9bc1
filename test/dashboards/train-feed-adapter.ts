/**
 * Maps training pipeline events onto feed messages for the dashboard's training e2e test.
 * A stand-in until the training pipeline ships its own mapping (pipelines/train-feed.ts); it follows the
 * field-for-field correspondence documented in pipelines/train-events.ts.
 */
import { makeThumbnail } from '../../src/data/index.js';
import { PROTOCOL_VERSION, quantiseAttention, type FeedMessage } from '../../src/protocol/messages.js';
import type { TrainEvent } from '../../pipelines/train-events.js';

/** The feed message of a training event, or undefined for events the protocol does not carry. */
export async function trainEventToFeed(e: TrainEvent): Promise<FeedMessage | undefined> {
  const env = { v: PROTOCOL_VERSION, ts: Date.now() } as const;
  switch (e.type) {
    case 'train.step':
      return {
        ...env, type: 'train.step', epoch: e.epoch, step: e.step, loss: e.loss, crossEntropy: e.crossEntropy,
        attentionPenalty: e.attentionPenalty, learningRate: e.learningRate, examplesPerSec: e.examplesPerSec, etaSec: e.etaSec,
      };
    case 'train.validation':
      return {
        ...env, type: 'train.validation', epoch: e.epoch, bleu: e.bleu, bestBleu4: e.bestBleu4,
        epochsSinceImprovement: e.epochsSinceImprovement, learningRate: e.learningRate, improved: e.improved,
        probes: await Promise.all(
          e.probes.map(async (p) => ({
            id: p.id,
            thumbnail: `data:image/jpeg;base64,${(await makeThumbnail(p.path, 128)).toString('base64')}`,
            caption: p.caption,
            references: p.references,
            words: p.words,
            gridSize: p.gridSize,
            attention: p.attention.length > 0 ? quantiseAttention(p.attention) : '',
          })),
        ),
      };
    case 'train.end':
      return { ...env, type: 'train.end', reason: e.reason, bestBleu4: e.bestBleu4, epochs: e.epochs };
    default:
      return undefined;
  }
}
