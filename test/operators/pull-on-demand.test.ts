import { describe, expect, it } from 'vitest';
import { NEVER, Subject, concatMap, firstValueFrom, from, lastValueFrom, map, startWith, take, tap, throwError, toArray } from 'rxjs';
import { pullOnDemand } from '../../operators/pull-on-demand.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pullOnDemand', () => {
  it('hands out only as many items as credit granted', async () => {
    const credit = new Subject<number>();
    const seen: number[] = [];
    const sub = pullOnDemand([1, 2, 3, 4, 5], credit).subscribe((x) => seen.push(x));
    await sleep(5);
    expect(seen).toEqual([]);
    credit.next(2);
    await sleep(5);
    expect(seen).toEqual([1, 2]);
    credit.next(1);
    await sleep(5);
    expect(seen).toEqual([1, 2, 3]);
    sub.unsubscribe();
  });

  it('keeps produced-but-unconsumed items within the prefetch behind a slow stage, losing and duplicating none', async () => {
    const prefetch = 4;
    const n = 60;
    let produced = 0;
    let consumed = 0;
    let maxOutstanding = 0;
    // A fast producer that counts what it has produced, as a decoder would.
    function* fast(): Generator<number> {
      for (let i = 0; i < n; i++) {
        produced++;
        maxOutstanding = Math.max(maxOutstanding, produced - consumed);
        yield i;
      }
    }
    const credit = new Subject<number>();
    const out = await lastValueFrom(
      pullOnDemand(fast, credit.pipe(startWith(prefetch))).pipe(
        // In-flight work (decode + batching) between the source and the slow step.
        concatMap(async (x) => {
          await sleep(1);
          return x;
        }),
        concatMap(async (x) => {
          await sleep(3); // the deliberately slow step
          return x;
        }),
        tap(() => {
          consumed++;
          credit.next(1);
        }),
        toArray(),
      ),
    );
    expect(out).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(maxOutstanding).toBeLessThanOrEqual(prefetch);
    expect(maxOutstanding).toBe(prefetch); // the bound is also reached: the prefetch is used
  });

  it('reads async iterables the same way', async () => {
    async function* gen() {
      for (let i = 0; i < 5; i++) {
        await sleep(1);
        yield i;
      }
    }
    const credit = new Subject<number>();
    const out = await lastValueFrom(
      pullOnDemand(gen, credit.pipe(startWith(1))).pipe(
        tap(() => credit.next(1)),
        toArray(),
      ),
    );
    expect(out).toEqual([0, 1, 2, 3, 4]);
  });

  it('completes on an empty source even with no credit', async () => {
    // An empty source needs one pull to learn it is empty: one unit of credit.
    const out = await lastValueFrom(pullOnDemand([], from([1])).pipe(toArray()));
    expect(out).toEqual([]);
  });

  it('emits nothing and does not complete when no credit ever arrives', async () => {
    const seen: number[] = [];
    let completed = false;
    const sub = pullOnDemand([1, 2], NEVER).subscribe({ next: (x) => seen.push(x), complete: () => (completed = true) });
    await sleep(10);
    expect(seen).toEqual([]);
    expect(completed).toBe(false);
    sub.unsubscribe();
  });

  it('propagates an error thrown by the producer (the user function)', async () => {
    function* bad(): Generator<number> {
      yield 1;
      throw new Error('boom');
    }
    const seen: number[] = [];
    await expect(
      lastValueFrom(pullOnDemand(bad, from([10])).pipe(tap((x) => seen.push(x)))),
    ).rejects.toThrow('boom');
    expect(seen).toEqual([1]);
  });

  it('propagates an error of the credit stream and rejects bad credit', async () => {
    await expect(lastValueFrom(pullOnDemand([1], throwError(() => new Error('credit failed'))))).rejects.toThrow(
      'credit failed',
    );
    await expect(lastValueFrom(pullOnDemand([1], from([-1])))).rejects.toThrow(/non-negative integer/);
    await expect(lastValueFrom(pullOnDemand([1], from([1.5])))).rejects.toThrow(/non-negative integer/);
  });

  it('stops the producer on early unsubscribe (the generator finally runs, nothing more is pulled)', async () => {
    let pulled = 0;
    let closed = false;
    function* infinite(): Generator<number> {
      try {
        for (;;) {
          pulled++;
          yield pulled;
        }
      } finally {
        closed = true;
      }
    }
    const first = await firstValueFrom(pullOnDemand(infinite, from([1000])).pipe(map((x) => x * 2)));
    expect(first).toBe(2);
    await sleep(5);
    expect(closed).toBe(true);
    const pulledAtStop = pulled;
    await sleep(10);
    expect(pulled).toBe(pulledAtStop);
    expect(pulled).toBeLessThanOrEqual(2);
  });

  it('gives each subscription fresh state (iterator and balance)', async () => {
    const source = pullOnDemand(() => [1, 2, 3][Symbol.iterator](), from([2]));
    // Two credits on three items: each subscription sees the first two, then waits for more.
    const a = await lastValueFrom(source.pipe(take(2), toArray()));
    const b = await lastValueFrom(source.pipe(take(2), toArray()));
    expect(a).toEqual([1, 2]);
    expect(b).toEqual([1, 2]);
  });

  it('does not break unsubscription chains', async () => {
    const credit = new Subject<number>();
    const sub = pullOnDemand([1, 2, 3], credit).subscribe();
    expect(credit.observed).toBe(true);
    sub.unsubscribe();
    expect(credit.observed).toBe(false);
  });
});
