import * as tf from '@tensorflow/tfjs';
import { stackImages } from '../data/preprocess.js';
import type { PreparedImage } from '../data/types.js';
import type { ShowAttendTell } from './show-attend-tell.js';

/**
 * The annotations [B, L, enc] of prepared images, stacked into one batch of the given side (default:
 * the first image's; stackImages names an image of another size) and encoded without dropout. The
 * caller owns the result.
 */
export function encodeImages(model: ShowAttendTell, images: readonly PreparedImage[], size = images[0]?.size ?? 0): tf.Tensor3D {
  const input = stackImages(images, size);
  return tf.tidy(() => model.encode(tf.tensor4d(input, [images.length, size, size, 3]), false));
}
