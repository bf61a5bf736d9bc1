import { createRng, shuffle } from '../src/data/rng.js';
import { prepareImage } from '../src/data/preprocess.js';
import type { CaptionedImage, PreparedImage, PreprocessConfig } from '../src/data/types.js';

/** One image with the caption it is trained on in one epoch. */
export interface TrainExample {
  id: string;
  path: string;
  tokens: string[];
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
 * captions per epoch, uniformly (more images per wall-clock minute learned faster than every caption
 * of fewer images); 'all' gives every caption its own example.
 */
export function epochExamples(
  images: readonly CaptionedImage[],
  seed: number,
  epoch: number,
  sampling: CaptionSampling = 'one-random',
): TrainExample[] {
  const rng = createRng(epochSeed(seed, epoch));
  const out: TrainExample[] = [];
  for (const im of images) {
    if (im.captions.length === 0) continue;
    if (sampling === 'all') {
      for (const tokens of im.captions) out.push({ id: im.id, path: im.path, tokens });
    } else {
      out.push({ id: im.id, path: im.path, tokens: im.captions[Math.floor(rng() * im.captions.length)]! });
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
