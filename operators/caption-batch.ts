import { performance } from 'node:perf_hooks';
import { from, mergeMap, type OperatorFunction } from 'rxjs';
import type { PreparedImage } from '../src/data/types.js';
import type { CaptionOptions } from '../src/decoding/caption-options.js';
import type { BatchOutput } from '../src/runtime/replica-pool.js';
import { ReplicaCrashError } from '../src/runtime/replica-pool.js';
import type { ReplicaCaption } from '../src/runtime/protocol.js';
import type { DecodedJob, FailedJob } from './decode-images.js';

/** Anything that captions a batch of prepared images: the ReplicaPool, or a test double. */
export interface BatchRunner {
  run(images: PreparedImage[], beam: CaptionOptions): Promise<BatchOutput>;
}

/** A decoded job with its caption and the timing of its batch. */
export interface CaptionedJob extends Omit<DecodedJob, 'image'> {
  caption: ReplicaCaption;
  /** Images in the model call (the batch, or more when the pool merged queued batches). */
  batchSize: number;
  /** performance.now() when the batch was formed, and when the model answered. */
  batchedAt: number;
  modelEnd: number;
  /** Time waiting for an idle replica and time inside the model, ms. */
  waitMs: number;
  modelMs: number;
  replica: number;
}

/**
 * Captions each batch on the runner, at most `concurrency` batches at once, and emits one item per
 * image. Use the number of replicas, plus a few when the runner merges queued batches (coalesceUpTo);
 * beyond that, more would only hold pixels in memory. When a batch fails every image
 * of it becomes a FailedJob: 'replica-crashed' if the replica died, else 'inference-error'.
 * The images' pixel buffers are handed to the runner (transferred to a worker, so detached here).
 */
export function captionBatch(
  runner: BatchRunner,
  beam: CaptionOptions,
  concurrency: number,
): OperatorFunction<DecodedJob[], CaptionedJob | FailedJob> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`captionBatch concurrency (${concurrency}) must be a positive integer`);
  }
  return mergeMap((batch) => {
    const batchedAt = performance.now();
    const run = runner.run(
      batch.map((d) => d.image),
      beam,
    ).then(
      (out): Array<CaptionedJob | FailedJob> => {
        const modelEnd = performance.now();
        return batch.map(({ image: _image, ...d }, i) => {
          const caption = out.captions[i];
          if (!caption) {
            return { ok: false, job: d.job, reason: 'inference-error', message: `${d.job.source}: the model returned ${out.captions.length} captions for a batch of ${batch.length}` };
          }
          return { ...d, caption, batchSize: out.modelBatchSize, batchedAt, modelEnd, waitMs: out.waitMs, modelMs: out.modelMs, replica: out.replica };
        });
      },
      (e: unknown): FailedJob[] => {
        const crashed = e instanceof ReplicaCrashError;
        return batch.map((d) => ({
          ok: false,
          job: d.job,
          reason: crashed ? 'replica-crashed' : 'inference-error',
          message: `${d.job.source}: ${(e as Error).message ?? String(e)}`,
        }));
      },
    );
    return from(run).pipe(mergeMap((items) => items));
  }, concurrency);
}
