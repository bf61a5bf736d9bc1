import { type Observable, Subject, defer, filter, map, startWith, takeWhile, tap } from 'rxjs';
import type { ImageDecodeError } from '../src/data/errors.js';
import type { PreparedImage } from '../src/data/types.js';
import type { Vocabulary } from '../src/data/vocabulary.js';
import { batchExamples } from '../operators/batch-examples.js';
import { loadImages } from '../operators/load-images.js';
import { pullOnDemand } from '../operators/pull-on-demand.js';
import { trainSteps, type StepDone, type Steppable } from '../operators/train-steps.js';
import type { TrainExample } from './train-data.js';

export interface EpochOptions {
  /** The epoch's examples in order; any iterable (pullOnDemand advances it one credit at a time). */
  examples: Iterable<TrainExample>;
  load: (x: TrainExample) => Promise<PreparedImage>;
  trainer: Steppable;
  vocab: Vocabulary;
  batchSize: number;
  maxLen: number;
  /** Examples decoded, batched or queued ahead of the optimizer, at most (>= batchSize). */
  prefetch: number;
  loadConcurrency: number;
  /** Steps taken before this epoch (step numbers continue from it). */
  firstStep: number;
  /** End the epoch after this many steps. */
  maxSteps: number;
  /** Checked after every step: true ends the epoch after it (time limit, stop request). */
  cut: () => boolean;
  onSkipped: (example: TrainExample, error: ImageDecodeError) => void;
}

/**
 * One epoch of training as a dataflow: pullOnDemand -> loadImages -> batchExamples -> trainSteps.
 * Credit is paid back as steps finish (batchSize each) and as undecodable images are skipped (one
 * each), so examples pulled from the list minus examples trained or skipped never exceed `prefetch`:
 * decoding cannot run ahead of a slow optimizer. Cold; each subscription runs the epoch afresh.
 */
export function trainEpoch(o: EpochOptions): Observable<StepDone> {
  return defer(() => {
    const credit = new Subject<number>();
    return pullOnDemand(o.examples, credit.pipe(startWith(o.prefetch))).pipe(
      loadImages({ load: o.load, concurrency: o.loadConcurrency }),
      tap((e) => {
        if (e.kind !== 'skipped') return;
        o.onSkipped(e.item, e.error);
        credit.next(1);
      }),
      filter((e) => e.kind === 'loaded'),
      map((e) => ({ id: e.item.id, tokens: e.item.tokens, image: e.image })),
      batchExamples({ batchSize: o.batchSize, vocab: o.vocab, maxLen: o.maxLen }),
      trainSteps(o.trainer, o.firstStep),
      tap((d) => credit.next(d.batchSize)),
      takeWhile((d) => d.step - o.firstStep < o.maxSteps && !o.cut(), true),
    );
  });
}
