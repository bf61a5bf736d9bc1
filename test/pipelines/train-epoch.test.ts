import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ImageDecodeError } from '../../src/data/errors.js';
import type { PreparedImage, TrainBatch } from '../../src/data/types.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { trainEpoch } from '../../pipelines/train-epoch.js';
import type { TrainExample } from '../../pipelines/train-data.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const vocab = Vocabulary.build([['a', 'red', 'circle']], 0);

/**
 * The backpressure proof on the training chain itself (the same function the pipeline runs): a fast
 * decoder, a deliberately slow optimizer, and a count of examples pulled from the list but not yet
 * trained or skipped, which includes those being decoded, decoded and waiting, and sitting in a
 * partial batch. Fakes stand in for sharp and the model: this is a test of the flow logic.
 */
describe('trainEpoch backpressure', () => {
  function run(opts: { n: number; batchSize: number; prefetch: number; bad?: Set<number>; maxSteps?: number }) {
    let pulled = 0;
    let settled = 0;
    let maxOutstanding = 0;
    const trainedIds: string[] = [];
    const skippedIds: string[] = [];
    // Counted where the list is read, so examples queued inside mergeMap count as in flight too.
    function* examples(): Generator<TrainExample> {
      for (let i = 0; i < opts.n; i++) {
        pulled++;
        maxOutstanding = Math.max(maxOutstanding, pulled - settled);
        yield { id: String(i), path: `p${i}`, tokens: ['a', 'red'] };
      }
    }
    const load = async (x: TrainExample): Promise<PreparedImage> => {
      await sleep(0);
      if (opts.bad?.has(Number(x.id))) throw new ImageDecodeError(x.path, 'corrupt', 'test');
      return { pixels: new Float32Array(3), size: 1, sourceWidth: 1, sourceHeight: 1 };
    };
    const trainer = {
      async step(b: TrainBatch) {
        await sleep(4); // the slow step
        trainedIds.push(...b.ids);
        settled += b.batchSize;
        return { loss: 1, crossEntropy: 1, attentionPenalty: 0, tokens: b.batchSize };
      },
    };
    const done = lastValueFrom(
      trainEpoch({
        examples: examples(), load, trainer, vocab, batchSize: opts.batchSize, maxLen: 10, prefetch: opts.prefetch, loadConcurrency: 2, firstStep: 0,
        maxSteps: opts.maxSteps ?? Infinity, cut: () => false,
        onSkipped: (x) => {
          skippedIds.push(x.id);
          settled++;
        },
      }).pipe(toArray()),
    );
    return { done, stats: () => ({ pulled, maxOutstanding, trainedIds, skippedIds }) };
  }

  it('never has more than prefetch examples in flight, and trains every example exactly once', async () => {
    const { done, stats } = run({ n: 103, batchSize: 8, prefetch: 16 });
    const steps = await done;
    const s = stats();
    expect(s.maxOutstanding).toBeLessThanOrEqual(16);
    expect(s.maxOutstanding).toBeGreaterThanOrEqual(8);
    expect(steps.map((d) => d.step)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    expect(steps.at(-1)!.batchSize).toBe(103 - 12 * 8);
    expect([...s.trainedIds].sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 103 }, (_, i) => String(i)));
  });

  it('pays credit back for skipped images, so bad files neither stall nor exceed the bound', async () => {
    const bad = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 50]);
    const { done, stats } = run({ n: 60, batchSize: 8, prefetch: 8, bad });
    await done;
    const s = stats();
    expect(s.maxOutstanding).toBeLessThanOrEqual(8);
    expect(s.skippedIds.sort()).toEqual([...bad].map(String).sort());
    expect(s.trainedIds.length).toBe(60 - bad.size);
    expect(new Set(s.trainedIds).size).toBe(s.trainedIds.length);
  });

  it('stops pulling when the step cap ends the epoch', async () => {
    const { done, stats } = run({ n: 1000, batchSize: 4, prefetch: 8, maxSteps: 3 });
    expect((await done).length).toBe(3);
    await sleep(20);
    expect(stats().pulled).toBeLessThanOrEqual(3 * 4 + 8);
  });
});
