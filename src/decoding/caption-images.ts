import { prepareImage } from '../data/preprocess.js';
import type { CaptionResult } from '../model/types.js';
import type { CaptionOptions } from './caption-options.js';
import type { Captioner } from './captioner.js';

/** Beam 3 with 50 steps, the reference's CLI settings, and three ranked alternatives. */
export const DEFAULT_CAPTION_OPTIONS: CaptionOptions = { beamSize: 3, maxSteps: 50, returnAlternatives: 3 };

/**
 * Captions image files (paths) or encoded images (Buffers: JPEG, PNG, WebP, ...), one result per
 * input in order. Images go through the model `batchSize` at a time, so a long list never holds
 * more than one batch of decoded pixels. Throws ImageDecodeError naming the first unusable input.
 */
export async function captionImages(captioner: Captioner, inputs: ReadonlyArray<string | Buffer>, opts: CaptionOptions = DEFAULT_CAPTION_OPTIONS, batchSize = 16): Promise<CaptionResult[]> {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batchSize must be an integer >= 1 (got ${batchSize})`);
  const results: CaptionResult[] = [];
  for (let i = 0; i < inputs.length; i += batchSize) {
    const images = await Promise.all(inputs.slice(i, i + batchSize).map((input) => prepareImage(input, captioner.preprocess)));
    results.push(...(await captioner.caption(images, opts)));
  }
  return results;
}
