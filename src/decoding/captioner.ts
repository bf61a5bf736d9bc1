import type * as tf from '@tensorflow/tfjs';
import type { PreparedImage, PreprocessConfig } from '../data/types.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { loadCheckpoint } from '../model/checkpoint.js';
import { encodeImages } from '../model/encode-images.js';
import { modelIdOf } from '../model/model-id.js';
import type { ShowAttendTell } from '../model/show-attend-tell.js';
import type { CaptionResult } from '../model/types.js';
import { beamSearch } from './beam-search.js';
import { captionHooks, type CaptionOptions } from './caption-options.js';

/** Batched beam search over annotations [B, L, enc] with the captioning hooks (captionHooks). Does not dispose `features`. */
export async function captionFeatures(model: ShowAttendTell, features: tf.Tensor3D, vocab: Vocabulary, opts: CaptionOptions): Promise<CaptionResult[]> {
  return beamSearch(model, features, vocab, opts, captionHooks(model, features, vocab, opts));
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
      throw new TypeError('Captioner needs an image encoder; this model takes precomputed features (use captionFeatures or beamSearch on features instead)');
    }
    this.modelId = modelIdOf(model);
  }

  async caption(images: PreparedImage[], opts: CaptionOptions): Promise<CaptionResult[]> {
    if (images.length === 0) return [];
    const features = encodeImages(this.model, images, this.preprocess.imageSize);
    try {
      return await captionFeatures(this.model, features, this.vocab, opts);
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
