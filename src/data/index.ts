/** Data layer: decoding and normalising images, Karpathy data sets, the synthetic data set, vocabulary. */
export * from './types.js';
export * from './vocabulary.js';
export * from './errors.js';
export { createRng, shuffle } from './rng.js';
export { prepareImage, makeThumbnail, stackImages, DEFAULT_LIMIT_INPUT_PIXELS, type PrepareImageOptions } from './preprocess.js';
export { loadKarpathy, splitOf, type KarpathyDataset, type LoadKarpathyOptions } from './karpathy.js';
export * from './synthetic/index.js';
