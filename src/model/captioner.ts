import * as tf from '@tensorflow/tfjs';
import { stackImages } from '../data/preprocess.js';
import type { PreparedImage, PreprocessConfig } from '../data/types.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { beamSearch } from './beam-search.js';
import { loadCheckpoint } from './checkpoint.js';
import { modelIdOf } from './model-id.js';
import type { ShowAttendTell } from './show-attend-tell.js';
import type { BeamOptions, CaptionResult } from './types.js';

/**
 * The annotations [B, L, enc] of prepared images, stacked into one batch of the given side (default:
 * the first image's; stackImages names an image of another size) and encoded without dropout. The
 * caller owns the result.
 */
export function encodeImages(model: ShowAttendTell, images: readonly PreparedImage[], size = images[0]?.size ?? 0): tf.Tensor3D {
  const input = stackImages(images, size);
  return tf.tidy(() => model.encode(tf.tensor4d(input, [images.length, size, size, 3]), false));
}

/**
 * Images in, captions out: stacks PreparedImages into one batch, encodes, runs batched beam search and
 * frees every tensor it made. Owns the model (dispose() frees it).
 */
export class Captioner {
  readonly modelId: string;

  constructor(
    readonly model: ShowAttendTell,
    readonly vocab: Vocabulary,
    readonly preprocess: PreprocessConfig,
  ) {
    if (model.config.encoder.kind === 'precomputed') {
      throw new TypeError('Captioner needs an image encoder; this model takes precomputed features (use beamSearch on features instead)');
    }
    this.modelId = modelIdOf(model);
  }

  async caption(images: PreparedImage[], opts: BeamOptions): Promise<CaptionResult[]> {
    if (images.length === 0) return [];
    const features = encodeImages(this.model, images, this.preprocess.imageSize);
    try {
      return await beamSearch(this.model, features, this.vocab, opts);
    } finally {
      features.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Loads a checkpoint directory as a ready Captioner (the trainer state, if any, is ignored). */
export async function loadCaptioner(dir: string): Promise<Captioner> {
  const { model, vocab, preprocess } = await loadCheckpoint(dir);
  try {
    return new Captioner(model, vocab, preprocess);
  } catch (err) {
    model.dispose();
    throw err;
  }
}
