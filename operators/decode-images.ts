import { readFile, stat } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { mergeMap, type OperatorFunction } from 'rxjs';
import { ImageDecodeError } from '../src/data/errors.js';
import { makeThumbnail, prepareImage } from '../src/data/preprocess.js';
import type { PreparedImage, PreprocessConfig } from '../src/data/types.js';
import type { FailureReason, Job } from '../src/sources/job.js';

/** A job whose image decoded: model input, a JPEG thumbnail (when wanted), and when decoding ran. */
export interface DecodedJob {
  ok: true;
  job: Job;
  image: PreparedImage;
  thumbnail?: Buffer;
  /** performance.now() stamps: decode start and end. */
  decodeStart: number;
  decodeEnd: number;
}

/** A job that cannot go further; carried as data so one bad file never stops the stream. */
export interface FailedJob {
  ok: false;
  job: Job;
  reason: FailureReason;
  message: string;
}

export interface DecodeImagesOptions {
  /** The model's preprocessing (from the loaded checkpoint). */
  preprocess: PreprocessConfig;
  /** Images decoded at once (default 4): sharp uses its own threads, so a few suffice. */
  concurrency?: number;
  /** Longer side of the thumbnail in pixels (default 160). */
  thumbnailSide?: number;
  /**
   * Asked per image whether anyone will look at its thumbnail (default: always). A thumbnail is a
   * second decode and a JPEG encode, about as much CPU as the model input itself, so a service
   * makes them only while a feed client wants them.
   */
  thumbnails?: () => boolean;
  /** Refuse images with more pixels than this (default: prepareImage's 40 MP). */
  limitInputPixels?: number;
  /** Refuse files larger than this many bytes before reading them (default 64 MiB). */
  maxFileBytes?: number;
  /** The option that raises maxFileBytes, named in the too-large message (e.g. --max-file-bytes); none when omitted. */
  maxFileBytesOption?: string;
}

/**
 * Decodes each job's image with sharp (prepareImage for the model, makeThumbnail for feeds) with
 * bounded concurrency. Emits a DecodedJob, or a FailedJob naming the reason (corrupt, unsupported,
 * too-large, empty, not-found) instead of erroring, so the stream carries on past bad inputs.
 * Output order follows completion, not input order.
 */
export function decodeImages(options: DecodeImagesOptions): OperatorFunction<Job, DecodedJob | FailedJob> {
  const { preprocess, concurrency = 4, thumbnailSide = 160, limitInputPixels, maxFileBytes = 64 * 1024 * 1024 } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`decodeImages concurrency (${concurrency}) must be a positive integer`);
  }
  return mergeMap(async (job): Promise<DecodedJob | FailedJob> => {
    const decodeStart = performance.now();
    const name = job.source;
    try {
      const tooLarge = (size: number): ImageDecodeError => {
        const hint = options.maxFileBytesOption ? ` (raise ${options.maxFileBytesOption})` : '';
        return new ImageDecodeError(name, 'too-large', `the file has ${size} bytes, more than the limit of ${maxFileBytes}${hint}`);
      };
      let bytes = job.bytes;
      if (bytes && bytes.length > maxFileBytes) throw tooLarge(bytes.length);
      if (!bytes) {
        const path = job.path!;
        const size = await stat(path).then((s) => s.size, () => undefined);
        if (size !== undefined && size > maxFileBytes) throw tooLarge(size);
        bytes = await readFile(path).catch(() => undefined);
        // Let prepareImage name the read error (not-found, is a directory...).
        if (!bytes) await prepareImage(path, preprocess, { limitInputPixels });
      }
      const opts = { name, limitInputPixels };
      const [image, thumbnail] = await Promise.all([
        prepareImage(bytes!, preprocess, opts),
        (options.thumbnails?.() ?? true) ? makeThumbnail(bytes!, thumbnailSide, opts) : undefined,
      ]);
      return { ok: true, job, image, thumbnail, decodeStart, decodeEnd: performance.now() };
    } catch (e) {
      if (e instanceof ImageDecodeError) return { ok: false, job, reason: e.reason, message: e.message };
      return { ok: false, job, reason: 'corrupt', message: `${name}: ${(e as Error).message ?? String(e)}` };
    }
  }, concurrency);
}
