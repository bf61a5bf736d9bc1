export * from './types.js';
export { defaultModelConfig, referenceModelConfig, validateModelConfig } from './config.js';
export { ShowAttendTell, type EmbeddingMode } from './show-attend-tell.js';
export type { NamedVariable } from './named-variable.js';
export { beamSearch } from './beam-search.js';
export { fileSystemLoader, fileSystemSaver } from './fs-io.js';
export { Trainer, type TrainerState, type SerializedTensor, type CaptionTargets } from './trainer.js';
