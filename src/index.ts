/**
 * The library: load a model, caption images from files or buffers, and build the pipelines the
 * `captioner` commands run. The package facade: it may re-export any layer below the CLI (the
 * import-graph test lets only this file and src/cli reach up into pipelines/).
 *
 *   await initBackend();                                   // once, before any tensor
 *   const captioner = await loadCaptioner(DEFAULT_MODEL_DIR);
 *   const [r] = await captionImages(captioner, ['photo.jpg'], { beamSize: 4, maxSteps: 50 });
 *
 * examples/caption-images.ts is the whole example, run by the test suite.
 */
export { initBackend, currentBackend, type BackendInfo, type BackendName, type BackendRequest } from './backend/index.js';

// Captioning: a loaded model, the search and its hooks.
export {
  beamSearch,
  banSpecialTokens,
  banTokens,
  lengthPenalty,
  detectorRescorer,
  captionHooks,
  captionFeatures,
  captionImages,
  Captioner,
  loadCaptioner,
  DEFAULT_CAPTION_OPTIONS,
  DEFAULT_MODEL_DIR,
  type CaptionOptions,
  type LogitsProcessor,
  type Rescorer,
  type SearchHooks,
  type StepInfo,
} from './decoding/index.js';

// The model and its checkpoints.
export { ShowAttendTell, defaultModelConfig, referenceModelConfig, encodeImages, loadCheckpoint, saveCheckpoint, CheckpointError, type LoadedCheckpoint } from './model/index.js';
export * from './model/types.js';

// Data: images, Karpathy data sets, the synthetic shapes, the vocabulary.
export * from './data/types.js';
export * from './data/vocabulary.js';
export { prepareImage, loadKarpathy, generateSynthetic, ImageDecodeError, DatasetError, type KarpathyDataset, type SyntheticDataset } from './data/index.js';

// Metrics.
export { corpusBleu, ciderD, attentionHitRate } from './metrics/index.js';

// The pipelines: services, training, evaluation.
export { startCaptionFolder, type CaptionFolderOptions, type CaptionFolderService } from '../pipelines/caption-folder.js';
export { startCaptionKafka, type CaptionKafkaOptions, type CaptionKafkaService } from '../pipelines/caption-kafka.js';
export { trainPipeline, type TrainOptions } from '../pipelines/train.js';
export type { TrainEvent } from '../pipelines/train-events.js';
export { selfCriticalTrain, type SelfCriticalOptions, type SelfCriticalEvent } from '../pipelines/self-critical.js';
export { evaluate, type EvaluateOptions, type EvaluationReport } from '../pipelines/evaluate.js';

// The feed protocol the dashboard speaks.
export * from './protocol/messages.js';
