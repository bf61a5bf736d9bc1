import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

/**
 * Dynamic batching with the semantics of Triton's dynamic batcher: items are collected into a batch
 * that is emitted as soon as it holds `maxBatch` items, or `maxDelayMs` after the FIRST item of the
 * batch arrived, whichever comes first. Unlike `bufferTime`, the timer is per batch (started by its
 * first item, not a free-running window), so a lone item waits at most `maxDelayMs` and an idle
 * stream costs nothing; empty batches are never emitted.
 *
 * On completion the partial batch is flushed, then completion propagates. Errors propagate at once
 * (the partial batch is dropped, as every RxJS buffering operator does). Unsubscribing cancels the
 * pending timer. All state lives in the subscription.
 *
 * @param maxBatch Largest batch size, an integer >= 1.
 * @param maxDelayMs Longest wait of a batch's first item, >= 0.
 * @param scheduler Schedules the delay timer; pass a TestScheduler's to test in virtual time.
 */
export function batchWithin<T>(
  maxBatch: number,
  maxDelayMs: number,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<T, T[]> {
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    throw new RangeError(`batchWithin maxBatch (${maxBatch}) must be an integer >= 1`);
  }
  if (!Number.isFinite(maxDelayMs) || maxDelayMs < 0) {
    throw new RangeError(`batchWithin maxDelayMs (${maxDelayMs}) must be a finite number >= 0`);
  }
  return (source) =>
    new Observable<T[]>((subscriber) => {
      let batch: T[] = [];
      let timer: Subscription | undefined;

      const flush = (): void => {
        timer?.unsubscribe();
        timer = undefined;
        if (batch.length === 0) return;
        const out = batch;
        batch = [];
        subscriber.next(out);
      };

      const inner = source.subscribe({
        next: (item) => {
          batch.push(item);
          if (batch.length >= maxBatch) flush();
          else if (batch.length === 1) timer = scheduler.schedule(flush, maxDelayMs);
        },
        error: (err) => {
          batch = [];
          subscriber.error(err);
        },
        complete: () => {
          flush();
          subscriber.complete();
        },
      });

      return () => {
        timer?.unsubscribe();
        batch = [];
        inner.unsubscribe();
      };
    });
}
