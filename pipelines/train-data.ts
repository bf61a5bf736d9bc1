import { createRng, shuffle } from '../src/data/rng.js';
import { prepareImage } from '../src/data/preprocess.js';
import { draw } from '../src/model/sample-captions.js';
import type { CaptionedImage, PreparedImage, PreprocessConfig } from '../src/data/types.js';

/** One image with the caption it is trained on in one epoch. */
export interface TrainExample {
  id: string;
  path: string;
  tokens: string[];
  /** Who wrote the caption (CaptionedImage.annotators; 0 when the data set does not say): its style. */
  style: number;
}

/** How an epoch uses an image's reference captions. */
export type CaptionSampling = 'one-random' | 'all';

/**
 * A deterministic per-epoch generator seed: the rng "state" of a run is (seed, epoch), so a resumed
 * run shuffles epoch e exactly as an uninterrupted one would.
 */
export function epochSeed(seed: number, epoch: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(epoch + 1, 0xc2b2ae35)) >>> 0;
}

/**
 * The examples of one epoch, shuffled with the epoch's seed. 'one-random' draws one of each image's
 * captions per epoch (more images per wall-clock minute learned faster than five captions per
 * image in our measurements), each in proportion to its annotator's `annotatorWeights` entry when
 * given (annotator mod their number; images that name no annotators draw uniformly); 'all' gives
 * every caption its own example.
 */
export function epochExamples(
  images: readonly CaptionedImage[],
  seed: number,
  epoch: number,
  sampling: CaptionSampling = 'one-random',
  annotatorWeights?: readonly number[],
): TrainExample[] {
  if (annotatorWeights && !(annotatorWeights.length > 0 && annotatorWeights.every((w) => w >= 0) && annotatorWeights.some((w) => w > 0))) {
    throw new RangeError(`annotatorWeights must be weights >= 0, not all 0 (got ${JSON.stringify(annotatorWeights)})`);
  }
  const rng = createRng(epochSeed(seed, epoch));
  const out: TrainExample[] = [];
  for (const im of images) {
    if (im.captions.length === 0) continue;
    const style = (k: number): number => im.annotators?.[k] ?? 0;
    if (sampling === 'all') {
      im.captions.forEach((tokens, k) => out.push({ id: im.id, path: im.path, tokens, style: style(k) }));
    } else {
      const weights = annotatorWeights && im.annotators ? Float32Array.from(im.captions, (_, j) => annotatorWeights[style(j) % annotatorWeights.length]!) : undefined;
      // An image whose annotators all weigh 0 draws uniformly, as one without annotators.
      const k = weights?.some((w) => w > 0) ? draw(weights, rng(), []) : Math.floor(rng() * im.captions.length);
      out.push({ id: im.id, path: im.path, tokens: im.captions[k]!, style: style(k) });
    }
  }
  return shuffle(out, rng);
}

/** Bytes of decoded float32 pixels for n images of the given side. */
export const decodedBytes = (n: number, imageSize: number): number => n * imageSize * imageSize * 3 * 4;

/**
 * An image loader, optionally memoising decoded images (worth it for small synthetic sets, where
 * sharp's decode is a large part of a step; a COCO split would not fit). Failures are not cached.
 */
export function imageLoader(preprocess: PreprocessConfig, cache: boolean): <T extends { path: string }>(x: T) => Promise<PreparedImage> {
  const memo = new Map<string, PreparedImage>();
  return async <T extends { path: string }>({ path }: T) => {
    const hit = memo.get(path);
    if (hit) return hit;
    const image = await prepareImage(path, preprocess);
    if (cache) memo.set(path, image);
    return image;
  };
}
