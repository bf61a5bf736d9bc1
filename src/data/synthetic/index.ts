/** The project's synthetic captioning data set: scenes of coloured shapes with checkable captions. */
export { generateSynthetic, SYNTHETIC_FORMAT_VERSION, type GenerateSyntheticOptions, type SyntheticDataset, type SyntheticImageEntry } from './generate.js';
export { checkCaption, type CaptionCheck } from './check-caption.js';
export { generateCaptions, MAX_CAPTION_TOKENS } from './captions.js';
export { wordClass, objectMatchesWord, SHAPES, COLOR_NAMES, SIZES } from './lexicon.js';
export { relationHolds, positionHolds, type Relation, type Position, type Strictness } from './geometry.js';
