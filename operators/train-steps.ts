import { type OperatorFunction, concatMap, defer } from 'rxjs';
import type { TrainBatch } from '../src/data/types.js';
import type { StepStats } from '../src/model/types.js';

/** What trainSteps needs of a trainer: the model's Trainer satisfies it. */
export interface Steppable {
  step(batch: TrainBatch): Promise<StepStats>;
}

/** One finished optimizer step. Plain data. */
export interface StepDone {
  /** 1-based count of steps taken by this subscription, offset by `firstStep`. */
  step: number;
  batchSize: number;
  /** Unpadded tokens predicted in the batch. */
  tokens: number;
  stats: StepStats;
  /** Wall time of the step, including reading the loss back. */
  durationMs: number;
  ids: string[];
}

/**
 * One optimizer step per batch, strictly one at a time (`concatMap`): an optimizer step mutates the
 * weights the next one reads, and a queue of batches waiting here would defeat the pull-on-demand
 * bound upstream. Emits a {@link StepDone} per batch; an error of `step` errors the stream.
 * The trainer belongs to the caller: this operator disposes nothing (each step owns its tensors).
 *
 * @param firstStep Steps already taken (on resume), so step numbers continue.
 */
export function trainSteps(trainer: Steppable, firstStep = 0): OperatorFunction<TrainBatch, StepDone> {
  return (source) =>
    defer(() => {
      let step = firstStep;
      return source.pipe(
        concatMap(async (batch): Promise<StepDone> => {
          const t0 = performance.now();
          const stats = await trainer.step(batch);
          step++;
          return {
            step,
            batchSize: batch.batchSize,
            tokens: stats.tokens,
            stats,
            durationMs: performance.now() - t0,
            ids: batch.ids,
          };
        }),
      );
    });
}
