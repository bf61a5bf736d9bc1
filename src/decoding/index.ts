export { beamSearch } from './beam-search.js';
export type { LogitsProcessor, Rescorer, SearchHooks, StepInfo } from './hooks.js';
export { banSpecialTokens, banTokens } from './processors.js';
export { lengthPenalty } from './rescorers.js';
export { detectorRescorer } from './detector-rescorer.js';
export { captionHooks, defaultDetectorRerank, DEFAULT_DETECTOR_RERANK, type CaptionOptions } from './caption-options.js';
export { Captioner, captionFeatures, loadCaptioner } from './captioner.js';
export { captionImages, DEFAULT_CAPTION_OPTIONS } from './caption-images.js';
export { DEFAULT_MODEL_DIR } from './default-model.js';
