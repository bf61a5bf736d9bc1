/** Shared data shapes of the library. Plain data only: these cross Observable and thread boundaries. */

export type Split = 'train' | 'val' | 'test';

/** An object drawn in a synthetic scene; boxes are in pixels of the stored image. Used only to measure. */
export interface SceneObject {
  shape: string;
  color: string;
  size: string;
  box: { x: number; y: number; w: number; h: number };
}

/** One image of a Karpathy-format data set with its tokenised reference captions. */
export interface CaptionedImage {
  /** Stable id: Karpathy imgid as a string (or cocoid when present). */
  id: string;
  /** Absolute path of the image file. */
  path: string;
  split: Split;
  /** Tokenised reference captions (lower case, no <start>/<end>). */
  captions: string[][];
  /**
   * annotators[k]: who wrote captions[k], where the data set says so (its sentences' integer
   * "annotator" field; the synthetic sets give each of their five styles one). Absent otherwise.
   */
  annotators?: number[];
  /** Present for the project's synthetic data sets only. */
  objects?: SceneObject[];
  width?: number;
  height?: number;
}

/** An image decoded and normalised for the model: HWC float32, ImageNet-normalised. */
export interface PreparedImage {
  pixels: Float32Array;
  size: number;
  /** Size of the source image after EXIF rotation, for mapping attention back to it. */
  sourceWidth: number;
  sourceHeight: number;
}

/** Preprocessing constants; saved with every model so inference matches training. */
export interface PreprocessConfig {
  imageSize: number;
  mean: [number, number, number];
  std: [number, number, number];
  /**
   * Transparency: 'flatten' (default) composites on white; 'drop' discards the alpha channel and
   * keeps the raw colours, as the PyTorch reference does (imported models use it).
   */
  alpha?: 'flatten' | 'drop';
  /**
   * The resampling kernel: one of sharp's (default 'lanczos3'), or 'pil-bilinear', Pillow's BILINEAR
   * bit for bit (pil-resize.ts): what the PyTorch reference resized with, so imported models use it.
   */
  resizeKernel?: 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3' | 'pil-bilinear';
}

export const IMAGENET_PREPROCESS: PreprocessConfig = {
  imageSize: 256,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};

/**
 * A training batch as plain arrays. images is B*S*S*3 (HWC per image), captions is B*T of token ids
 * (<start> w1..wn <end> <pad>...), lengths holds n+2 per caption as the reference stores it.
 */
export interface TrainBatch {
  batchSize: number;
  imageSize: number;
  maxLen: number;
  images: Float32Array;
  captions: Int32Array;
  lengths: Int32Array;
  /** Ids of the images, for tracing. */
  ids: string[];
}
