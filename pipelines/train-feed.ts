import { type OperatorFunction, concatMap, filter } from 'rxjs';
import { makeThumbnail } from '../src/data/index.js';
import {
  PROTOCOL_VERSION,
  quantiseAttention,
  type TrainEndMessage,
  type TrainStepMessage,
  type TrainValidationMessage,
} from '../src/protocol/messages.js';
import type { TrainEndEvent, TrainEvent, TrainStepEvent, TrainValidationEvent } from './train-events.js';

export type TrainFeedMessage = TrainStepMessage | TrainValidationMessage | TrainEndMessage;

/** The feed message of a step event (plain field copy). */
export function stepMessage(e: TrainStepEvent, ts = Date.now()): TrainStepMessage {
  return {
    v: PROTOCOL_VERSION, type: 'train.step', ts, epoch: e.epoch, step: e.step, loss: e.loss, crossEntropy: e.crossEntropy,
    attentionPenalty: e.attentionPenalty, learningRate: e.learningRate, examplesPerSec: e.examplesPerSec, etaSec: e.etaSec,
  };
}

/** The feed message of an end event. */
export function endMessage(e: TrainEndEvent, ts = Date.now()): TrainEndMessage {
  return { v: PROTOCOL_VERSION, type: 'train.end', ts, reason: e.reason, bestBleu4: e.bestBleu4, epochs: e.epochs };
}

/** The feed message of a validation event: probe images become JPEG thumbnails, attention 8-bit maps. */
export async function validationMessage(e: TrainValidationEvent, thumbnailSide = 128, ts = Date.now()): Promise<TrainValidationMessage> {
  return {
    v: PROTOCOL_VERSION, type: 'train.validation', ts, epoch: e.epoch, bleu: e.bleu, bestBleu4: e.bestBleu4,
    epochsSinceImprovement: e.epochsSinceImprovement, learningRate: e.learningRate, improved: e.improved,
    ...(e.grounding ? { grounding: e.grounding } : {}),
    probes: await Promise.all(
      e.probes.map(async (p) => ({
        id: p.id,
        // A probe whose file vanished since validation still shows its captions, without a picture.
        thumbnail: await makeThumbnail(p.path, thumbnailSide).then((b) => `data:image/jpeg;base64,${b.toString('base64')}`, () => ''),
        caption: p.caption,
        references: p.references,
        words: p.words,
        gridSize: p.gridSize,
        attention: p.attention.length > 0 ? quantiseAttention(p.attention) : '',
      })),
    ),
  };
}

/**
 * Training events -> feed protocol messages, in order (`concatMap`, since a validation message
 * needs its thumbnails made first). Events the protocol does not carry (start, epoch, skipped,
 * checkpoint) are dropped.
 */
export function toTrainFeed(thumbnailSide = 128): OperatorFunction<TrainEvent, TrainFeedMessage> {
  return (source) =>
    source.pipe(
      filter((e): e is TrainStepEvent | TrainValidationEvent | TrainEndEvent => e.type === 'train.step' || e.type === 'train.validation' || e.type === 'train.end'),
      concatMap(async (e): Promise<TrainFeedMessage> => {
        if (e.type === 'train.step') return stepMessage(e);
        if (e.type === 'train.end') return endMessage(e);
        return validationMessage(e, thumbnailSide);
      }),
    );
}
