import { describe, expect, it } from 'vitest';
import { Subject, from, lastValueFrom, toArray, throwError, concat, of } from 'rxjs';
import { trainSteps, type Steppable } from '../../operators/train-steps.js';
import type { TrainBatch } from '../../src/data/types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const batch = (id: string, n = 2): TrainBatch => ({
  batchSize: n, imageSize: 1, maxLen: 1, images: new Float32Array(n * 3), captions: new Int32Array(n * 3), lengths: new Int32Array(n).fill(3), ids: Array.from({ length: n }, (_, i) => `${id}.${i}`),
});

/** A fake trainer for the operator's logic: records overlap, which a real optimizer must never see. */
function fakeTrainer(failOn?: string): Steppable & { running: number; peak: number; calls: string[] } {
  const t = {
    running: 0, peak: 0, calls: [] as string[],
    async step(b: TrainBatch) {
      t.running++;
      t.peak = Math.max(t.peak, t.running);
      t.calls.push(b.ids[0]!);
      await sleep(2);
      t.running--;
      if (b.ids[0] === `${failOn}.0`) throw new Error('step failed');
      return { loss: 1, crossEntropy: 0.9, attentionPenalty: 0.1, tokens: b.batchSize * 2 };
    },
  };
  return t;
}

describe('trainSteps', () => {
  it('runs one step at a time in order and numbers steps from firstStep', async () => {
    const t = fakeTrainer();
    const out = await lastValueFrom(from([batch('a'), batch('b'), batch('c', 1)]).pipe(trainSteps(t, 10), toArray()));
    expect(t.peak).toBe(1);
    expect(out.map((e) => e.step)).toEqual([11, 12, 13]);
    expect(out.map((e) => e.batchSize)).toEqual([2, 2, 1]);
    expect(out[2]!.tokens).toBe(2);
    expect(out[0]!.durationMs).toBeGreaterThan(0);
  });

  it('restarts numbering per subscription', async () => {
    const op = from([batch('a')]).pipe(trainSteps(fakeTrainer()));
    expect((await lastValueFrom(op)).step).toBe(1);
    expect((await lastValueFrom(op)).step).toBe(1);
  });

  it('errors when a step fails and when the source errors; completes on empty', async () => {
    await expect(lastValueFrom(from([batch('a'), batch('b')]).pipe(trainSteps(fakeTrainer('a'))))).rejects.toThrow('step failed');
    await expect(lastValueFrom(concat(of(batch('a')), throwError(() => new Error('src'))).pipe(trainSteps(fakeTrainer())))).rejects.toThrow('src');
    expect(await lastValueFrom(from<TrainBatch[]>([]).pipe(trainSteps(fakeTrainer()), toArray()))).toEqual([]);
  });

  it('takes no further steps after unsubscribe', async () => {
    const t = fakeTrainer();
    const input = new Subject<TrainBatch>();
    const sub = input.pipe(trainSteps(t)).subscribe();
    input.next(batch('a'));
    input.next(batch('b'));
    sub.unsubscribe();
    await sleep(15);
    expect(t.calls).toEqual(['a.0']);
    expect(input.observed).toBe(false);
  });
});
