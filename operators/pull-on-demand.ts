import { Observable } from 'rxjs';

/** What pullOnDemand reads from: a (possibly async) iterable, or a factory called once per subscription. */
export type PullSource<T> = Iterable<T> | AsyncIterable<T> | (() => Iterable<T> | AsyncIterable<T>);

/**
 * A credit-based source: emits the next item of `source` only while the consumer has granted credit.
 *
 * Rx pushes, so flow control belongs in a source that a feedback loop can slow down (rxjs#71). Each
 * number emitted by `credit$` grants that many more items; the iterator is advanced once per unit of
 * credit and never ahead of it, so items produced but not yet paid back stay at most the credit
 * outstanding (the prefetch the consumer starts with, e.g. `credit.pipe(startWith(prefetch))`).
 * A typical loop grants one credit per item its slowest stage has finished.
 *
 * Completes when the source is exhausted (whether or not credit remains); errors when the iterator
 * throws or `credit$` errors, or when a credit is not a non-negative integer. Unsubscribing stops the
 * pump and calls the iterator's `return()`, so a generator's `finally` runs (the producer stops).
 * All state lives in the subscription: each subscriber gets a fresh iterator and a zero balance.
 *
 * @param source Items to hand out; a factory is called per subscription (iterables such as arrays
 *   restart per subscription anyway, generators cannot).
 * @param credit$ Grants of credit from the consumer; subscribed once per subscription.
 */
export function pullOnDemand<T>(source: PullSource<T>, credit$: Observable<number>): Observable<T> {
  return new Observable<T>((subscriber) => {
    const iterable = typeof source === 'function' ? source() : source;
    const iterator: Iterator<T> | AsyncIterator<T> =
      Symbol.asyncIterator in iterable
        ? (iterable as AsyncIterable<T>)[Symbol.asyncIterator]()
        : (iterable as Iterable<T>)[Symbol.iterator]();
    let credit = 0;
    let pumping = false;
    let finished = false;

    // One pump at a time: a grant arriving while we await the iterator only raises the balance, and
    // a grant made synchronously from inside subscriber.next re-enters here and returns at once.
    const pump = async (): Promise<void> => {
      if (pumping) return;
      pumping = true;
      try {
        while (credit > 0 && !finished && !subscriber.closed) {
          credit--;
          const r = await iterator.next();
          if (finished || subscriber.closed) return;
          if (r.done) {
            finished = true;
            subscriber.complete();
            return;
          }
          subscriber.next(r.value);
        }
      } catch (err) {
        finished = true;
        subscriber.error(err);
      } finally {
        pumping = false;
      }
    };

    const grants = credit$.subscribe({
      next: (n) => {
        if (!Number.isInteger(n) || n < 0) {
          finished = true;
          subscriber.error(new RangeError(`pullOnDemand: credit must be a non-negative integer, got ${n}`));
          return;
        }
        credit += n;
        void pump();
      },
      error: (err) => {
        finished = true;
        subscriber.error(err);
      },
    });

    return () => {
      grants.unsubscribe();
      const wasFinished = finished;
      finished = true;
      if (!wasFinished) {
        // Let a generator run its finally blocks; a rejection here has nobody left to hear it.
        void Promise.resolve()
          .then(() => iterator.return?.())
          .catch(() => undefined);
      }
    };
  });
}
