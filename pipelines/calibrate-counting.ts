/**
 * Calibrates which of a model's phrases count objects (src/model/phrase-count.ts) from a data set's
 * images and captions alone, and writes the list into the checkpoint's config
 * (config.countablePhrases; weights untouched). The training images are fair to calibrate on: the
 * detector was trained to say whether a phrase is in a caption, never how many times, and it takes
 * thousands of captions to tell a phrase that counts from one that does not. `captioner train` runs
 * it after training a model with a phrase detector; `captioner calibrate` runs it on an existing one.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { CaptionedImage, Split } from '../src/data/types.js';
import { countablePhrases, encodeImages, loadCheckpoint, phraseInstanceCounts, updateCheckpointConfig, type CountingSample } from '../src/model/index.js';
import { phraseLogits } from '../src/model/loss.js';
import { imageLoader } from './train-data.js';

export interface CalibrateCountingOptions {
  /** Checkpoint directory to calibrate (rewritten in place). */
  modelDir: string;
  dataset: { name: string; images: CaptionedImage[] };
  /** Splits to calibrate on (default train and val; the test split is left for measuring). */
  splits?: readonly Split[];
  /** Images per encoder batch (default 32). */
  batchSize?: number;
  /** At most this many images, taken in split order (default 12,000: ~2 minutes on 2 cores, evidence enough). */
  maxImages?: number;
}

/** Whether a checkpoint has a phrase detector to calibrate (false when there is no checkpoint). */
export async function hasPhraseDetector(modelDir: string): Promise<boolean> {
  const text = await readFile(join(modelDir, 'model.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return false;
  const phrases = (JSON.parse(text) as { config?: { phrases?: unknown[] } }).config?.phrases;
  return Array.isArray(phrases) && phrases.length > 0;
}

export interface CountingCalibration {
  /** The countable phrases, as words ("red circle"). */
  countable: string[];
  /** Phrases of the model's detector. */
  phrases: number;
  images: number;
  splits: readonly Split[];
  /** The model had a learned re-ranker; it was trained for the old config and was deleted with it. */
  rerankerDeleted: boolean;
}

/** Counts each phrase's blobs on the images, calibrates (countablePhrases) and rewrites the checkpoint's config. */
export async function calibrateCounting(o: CalibrateCountingOptions): Promise<CountingCalibration> {
  const splits = o.splits ?? (['train', 'val'] as const);
  const batchSize = o.batchSize ?? 32;
  const { model, vocab, preprocess } = await loadCheckpoint(o.modelDir);
  try {
    const phrases = model.config.phrases ?? [];
    if (phrases.length === 0) throw new RangeError(`${o.modelDir}: the model has no phrase detector to count with (train it with --phrase-detection)`);
    const images = splits.flatMap((split) => o.dataset.images.filter((im) => im.split === split)).slice(0, o.maxImages ?? 12_000);
    if (images.length === 0) throw new RangeError(`${o.dataset.name}: no ${splits.join(' or ')} images to calibrate counting on`);
    const load = imageLoader(preprocess, false);
    const samples: CountingSample[] = [];
    for (let i = 0; i < images.length; i += batchSize) {
      const batch = images.slice(i, i + batchSize);
      const prepared = await Promise.all(batch.map(load));
      const cells = tf.tidy(() => tf.sigmoid(phraseLogits(model, encodeImages(model, prepared, preprocess.imageSize))).dataSync() as Float32Array);
      const per = cells.length / batch.length;
      batch.forEach((im, j) => {
        const counts = phraseInstanceCounts(cells.subarray(j * per, (j + 1) * per), model.config.gridSize, phrases.length);
        samples.push({ counts, captions: im.captions.map((c) => c.map((w) => vocab.idOf(w))) });
      });
    }
    const countable = countablePhrases(samples, phrases);
    await updateCheckpointConfig(o.modelDir, (c) => ({ ...c, countablePhrases: countable }));
    return { countable: countable.map((q) => phrases[q]!.map((id) => vocab.wordOf(id)).join(' ')), phrases: phrases.length, images: images.length, splits, rerankerDeleted: model.reranker !== undefined };
  } finally {
    model.dispose();
  }
}
