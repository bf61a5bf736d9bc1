import { EMPTY, NEVER, Subject, map, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { batchWithin } from '../../operators/batch-within.js';

const scheduler = (): TestScheduler => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('batchWithin (virtual time)', () => {
  it('emits when maxBatch items are ready, before the delay', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('abc-----|');
      expectObservable(src.pipe(batchWithin(3, 5))).toBe('--x-----|', { x: ['a', 'b', 'c'] });
    });
  });

  it('emits maxDelayMs after the FIRST item of the batch, not after the last', () => {
    scheduler().run(({ cold, expectObservable, time }) => {
      const src = cold('a-b-c----------|');
      const delay = time('----|');
      expectObservable(src.pipe(batchWithin(10, delay))).toBe('----x----------|', { x: ['a', 'b', 'c'] });
    });
  });

  it('starts the timer of the next batch at its own first item; never emits empty batches', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('ab--------c-----d|');
      expectObservable(src.pipe(batchWithin(5, 3))).toBe('---x---------y---(z|)', {
        x: ['a', 'b'],
        y: ['c'],
        z: ['d'],
      });
    });
  });

  it('splits a burst larger than maxBatch', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('(abcde)--|');
      expectObservable(src.pipe(batchWithin(2, 4))).toBe('(xy)z----|', { x: ['a', 'b'], y: ['c', 'd'], z: ['e'] });
    });
  });

  it('flushes the partial batch on completion', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('ab|').pipe(batchWithin(5, 100))).toBe('--(x|)', { x: ['a', 'b'] });
    });
  });

  it('completes empty on empty and stays silent on never', () => {
    scheduler().run(({ expectObservable }) => {
      expectObservable(EMPTY.pipe(batchWithin(3, 5))).toBe('|');
      expectObservable(NEVER.pipe(batchWithin(3, 5))).toBe('-');
    });
  });

  it('propagates errors at once, dropping the partial batch', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('ab-#', undefined, new Error('boom'));
      expectObservable(src.pipe(batchWithin(5, 10))).toBe('---#', undefined, new Error('boom'));
      expectSubscriptions(src.subscriptions).toBe('^--!');
    });
    scheduler().run(({ expectObservable }) => {
      expectObservable(throwError(() => 'e').pipe(batchWithin(2, 1))).toBe('#', undefined, 'e');
    });
  });

  it('propagates an error thrown by an upstream user function', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const src = cold('a-b|').pipe(
        map((x) => {
          if (x === 'b') throw new Error('bad item');
          return x;
        }),
      );
      expectObservable(src.pipe(batchWithin(5, 10))).toBe('--#', undefined, new Error('bad item'));
    });
  });

  it('cancels the pending timer on early unsubscribe', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('a-------b|');
      const unsub = '  ---!';
      expectObservable(src.pipe(batchWithin(5, 5)), unsub).toBe('----');
      expectSubscriptions(src.subscriptions).toBe('^--!');
    });
  });

  it('does not break unsubscription chains', () => {
    scheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('a-b-c-d-e|');
      const result = src.pipe(
        map((x) => x),
        batchWithin(2, 100),
        map((x) => x),
      );
      expectObservable(result, '----!').toBe('--x-', { x: ['a', 'b'] });
      expectSubscriptions(src.subscriptions).toBe('^---!');
    });
  });

  it('emits exactly one batch when the timer and maxBatch coincide', () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('a-b--|').pipe(batchWithin(2, 2))).toBe('--x--|', { x: ['a', 'b'] });
    });
  });

  it('rejects invalid arguments with a clear message', () => {
    expect(() => batchWithin(0, 5)).toThrow(/maxBatch \(0\) must be an integer >= 1/);
    expect(() => batchWithin(2, -1)).toThrow(/maxDelayMs \(-1\)/);
  });

  it('handles reentrant pushes from downstream without losing items', () => {
    const src = new Subject<number>();
    const got: number[][] = [];
    src.pipe(batchWithin(2, 1000)).subscribe((b) => {
      got.push(b);
      if (b[0] === 1) src.next(3);
    });
    src.next(1);
    src.next(2);
    src.next(4);
    src.complete();
    expect(got).toEqual([[1, 2], [3, 4]]);
  });
});
