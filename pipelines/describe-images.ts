import { Observable, Subject, bufferCount, concatMap, defer, from, mergeMap, startWith, tap } from 'rxjs';
import type { ImageDecodeError } from '../src/data/errors.js';
import type { PreparedImage } from '../src/data/types.js';
import type { CaptionOptions } from '../src/decoding/index.js';
import type { CaptionResult } from '../src/model/index.js';
import { loadImages } from '../operators/load-images.js';
import { pullOnDemand } from '../operators/pull-on-demand.js';
import type { ImageCaptioner } from './model-captioner.js';

/** One image's outcome: a caption, or why its file could not be used. */
export type DescribeEvent<T> =
  | { kind: 'captioned'; item: T; result: CaptionResult; image: PreparedImage }
  | { kind: 'skipped'; item: T; error: ImageDecodeError };

export interface DescribeOptions<T> {
  captioner: ImageCaptioner;
  load: (item: T) => Promise<PreparedImage>;
  beam: CaptionOptions;
  /** Images per beam-search call (default 16). */
  batchSize?: number;
  /** Decodes in flight (default 4). */
  concurrency?: number;
}

/**
 * Captions a list of images in batches: decode (bounded) -> batch -> beam search, with the decoded
 * images held in memory bounded to two batches: images are pulled on demand and each finished batch
 * pays its credit back, so a 5000-image split never sits decoded in memory at once.
 * Output order follows completion. Undecodable files become `skipped` events.
 */
export function describeImages<T>(items: readonly T[], opts: DescribeOptions<T>): Observable<DescribeEvent<T>> {
  const { captioner, load, beam, batchSize = 16, concurrency = 4 } = opts;
  return defer(() => {
    const credit = new Subject<number>();
    return pullOnDemand(items, credit.pipe(startWith(2 * batchSize))).pipe(
      loadImages({ load, concurrency }),
      bufferCount(batchSize),
      concatMap(async (events): Promise<DescribeEvent<T>[]> => {
        const loaded = events.filter((e) => e.kind === 'loaded');
        const results = await captioner.caption(
          loaded.map((e) => e.image),
          beam,
        );
        const out: DescribeEvent<T>[] = events.flatMap((e) => (e.kind === 'skipped' ? [e] : []));
        loaded.forEach((e, i) => out.push({ kind: 'captioned', item: e.item, result: results[i]!, image: e.image }));
        return out;
      }),
      tap((out) => credit.next(out.length)),
      mergeMap((out) => from(out)),
    );
  });
}
