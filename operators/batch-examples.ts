import { type OperatorFunction, bufferCount, filter, map } from 'rxjs';
import type { PreparedImage, TrainBatch } from '../src/data/types.js';
import type { Vocabulary } from '../src/data/vocabulary.js';

/** One training example: an image and the single caption chosen for it this epoch. */
export interface ExampleWithImage {
  id: string;
  /** Tokenised caption, without <start>/<end>. */
  tokens: readonly string[];
  image: PreparedImage;
}

export interface BatchExamplesOptions {
  batchSize: number;
  vocab: Vocabulary;
  /** Longest caption accepted, in words; longer ones are cut (the reference drops them at load). */
  maxLen: number;
}

/**
 * Groups examples into {@link TrainBatch}es of `batchSize` (the last one of a stream may be
 * smaller). Captions are encoded `<start> w.. <end>` and padded to the longest caption of the
 * batch, not to `maxLen`, because the decoder unrolls once per column and padding costs steps;
 * `lengths` keeps n + 2 per caption as the reference stores it. Images are copied into one HWC block.
 */
export function batchExamples({ batchSize, vocab, maxLen }: BatchExamplesOptions): OperatorFunction<ExampleWithImage, TrainBatch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchExamples: batchSize must be a positive integer, got ${batchSize}`);
  }
  return (source) =>
    source.pipe(
      bufferCount(batchSize),
      filter((xs) => xs.length > 0),
      map((xs) => packBatch(xs, vocab, maxLen)),
    );
}

/** Packs examples (all of one image size) into a TrainBatch; exported for pipelines that batch themselves. */
export function packBatch(xs: readonly ExampleWithImage[], vocab: Vocabulary, maxLen: number): TrainBatch {
  const size = xs[0]?.image.size ?? 0;
  const pixelsPer = size * size * 3;
  const words = xs.map((x) => x.tokens.slice(0, maxLen));
  const longest = Math.max(0, ...words.map((w) => w.length));
  const T = longest + 2;
  const images = new Float32Array(xs.length * pixelsPer);
  const captions = new Int32Array(xs.length * T);
  const lengths = new Int32Array(xs.length);
  xs.forEach((x, i) => {
    if (x.image.size !== size) {
      throw new RangeError(`batchExamples: image ${x.id} is ${x.image.size}px, the batch is ${size}px`);
    }
    images.set(x.image.pixels, i * pixelsPer);
    const { ids, length } = vocab.encode(words[i]!, longest);
    captions.set(ids, i * T);
    lengths[i] = length;
  });
  return { batchSize: xs.length, imageSize: size, maxLen: longest, images, captions, lengths, ids: xs.map((x) => x.id) };
}
