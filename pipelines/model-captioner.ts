import type { PreparedImage } from '../src/data/types.js';
import type { Vocabulary } from '../src/data/vocabulary.js';
import { captionFeatures, type CaptionOptions } from '../src/decoding/index.js';
import { encodeImages, type CaptionResult, type ShowAttendTell } from '../src/model/index.js';

/** Anything that captions prepared images: the decoding package's Captioner, or {@link modelCaptioner}. */
export interface ImageCaptioner {
  caption(images: PreparedImage[], opts: CaptionOptions): Promise<CaptionResult[]>;
}

/**
 * Captions prepared images with a model being trained (encoder pass, then batched beam search),
 * so validation needs no checkpoint round trip. Owns only the tensors it creates per call; the model
 * stays the caller's.
 */
export function modelCaptioner(model: ShowAttendTell, vocab: Vocabulary): ImageCaptioner {
  return {
    async caption(images, opts) {
      if (images.length === 0) return [];
      const features = encodeImages(model, images);
      try {
        return await captionFeatures(model, features, vocab, opts);
      } finally {
        features.dispose();
      }
    },
  };
}
