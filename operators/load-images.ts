import { type OperatorFunction, from, map, mergeMap, catchError, of, throwError } from 'rxjs';
import { ImageDecodeError } from '../src/data/errors.js';
import type { PreparedImage } from '../src/data/types.js';

/** An item whose image decoded. */
export interface LoadedImage<T> {
  kind: 'loaded';
  item: T;
  image: PreparedImage;
}

/** An item whose image could not be decoded; the stream goes on without it. */
export interface SkippedImage<T> {
  kind: 'skipped';
  item: T;
  error: ImageDecodeError;
}

export type LoadImageEvent<T> = LoadedImage<T> | SkippedImage<T>;

export interface LoadImagesOptions<T> {
  /** Decodes one item's image, typically `(x) => prepareImage(x.path, preprocess)`. */
  load: (item: T) => Promise<PreparedImage>;
  /** Decodes in flight at once (default 4): sharp runs off the main thread, more only queues. */
  concurrency?: number;
}

/**
 * Decodes each item's image with bounded concurrency (`mergeMap(fn, concurrency)`; an unbounded
 * mergeMap around I/O is a bug). Output order follows completion, not input order.
 *
 * An {@link ImageDecodeError} (missing, empty, corrupt, unsupported or oversized file) becomes a
 * typed `skipped` event, because one bad file in a data set must not end a training run; any other
 * error is a bug and errors the stream.
 */
export function loadImages<T>({ load, concurrency = 4 }: LoadImagesOptions<T>): OperatorFunction<T, LoadImageEvent<T>> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`loadImages: concurrency must be a positive integer, got ${concurrency}`);
  }
  return mergeMap(
    (item: T) =>
      from(Promise.resolve().then(() => load(item))).pipe(
        map((image): LoadImageEvent<T> => ({ kind: 'loaded', item, image })),
        catchError((err: unknown) =>
          err instanceof ImageDecodeError
            ? of<LoadImageEvent<T>>({ kind: 'skipped', item, error: err })
            : throwError(() => err),
        ),
      ),
    concurrency,
  );
}
