import { compactCnnOutputDim, type CompactCnnOptions } from './compact-cnn.js';
import type { ModelConfig } from './types.js';

/**
 * The small model for 64x64 synthetic scenes: four 3x3 conv blocks (32, 64, 128, 128 channels; each
 * block after the first halves the resolution by 2x2 average pooling) give an 8x8 grid of
 * 128-d annotations; attention 128, embedding 96, LSTM 256, dropout 0.5 before fc, ReLU attention
 * as the reference. vocabSize must be set from the vocabulary (override it).
 */
export function defaultModelConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  const config: ModelConfig = {
    formatVersion: 1,
    encoder: { kind: 'compact-cnn', channels: [32, 64, 128, 128] },
    gridSize: 8,
    encoderDim: 128,
    attentionDim: 128,
    embedDim: 96,
    decoderDim: 256,
    vocabSize: 32,
    dropout: 0.5,
    attentionActivation: 'relu',
    ...overrides,
  };
  if (config.encoder.kind === 'compact-cnn' && overrides.encoderDim === undefined) {
    // The annotation size follows from the encoder (last conv width, + 2 coordinate channels) unless set.
    config.encoderDim = compactCnnOutputDim(config.encoder) || config.encoderDim;
  }
  validateModelConfig(config);
  return config;
}

/**
 * The reference decoder's sizes (ResNet-101 features 2048-d on 14x14; attention, embedding and
 * LSTM 512) on precomputed features, as used by the benchmarks. The COCO word map has 9490 entries.
 */
export function referenceModelConfig(vocabSize: number): ModelConfig {
  return defaultModelConfig({
    encoder: { kind: 'precomputed' },
    gridSize: 14,
    encoderDim: 2048,
    attentionDim: 512,
    embedDim: 512,
    decoderDim: 512,
    vocabSize,
    dropout: 0.5,
    attentionActivation: 'relu',
  });
}

const positiveInts = ['gridSize', 'encoderDim', 'attentionDim', 'embedDim', 'decoderDim'] as const;

/** Throws a TypeError naming the first invalid field of a model config and how to fix it. */
export function validateModelConfig(config: ModelConfig, source = 'model config'): void {
  if (config.formatVersion !== 1) {
    throw new TypeError(`${source}: formatVersion must be 1 (got ${String(config.formatVersion)}); it was written by another version`);
  }
  for (const key of positiveInts) {
    const v = config[key];
    if (!Number.isInteger(v) || v < 1) throw new TypeError(`${source}: ${key} must be a positive integer (got ${String(v)})`);
  }
  if (!Number.isInteger(config.vocabSize) || config.vocabSize < 5) {
    throw new TypeError(`${source}: vocabSize must be an integer >= 5 (the 4 special tokens and a word); got ${String(config.vocabSize)}. Set it to vocab.size.`);
  }
  if (!(config.dropout >= 0 && config.dropout < 1)) {
    throw new TypeError(`${source}: dropout must be in [0, 1) (got ${String(config.dropout)})`);
  }
  if (config.deepOutput !== undefined && typeof config.deepOutput !== 'boolean') {
    throw new TypeError(`${source}: deepOutput must be true or false (got ${String(config.deepOutput)})`);
  }
  if (config.attentionMemory !== undefined && typeof config.attentionMemory !== 'boolean') {
    throw new TypeError(`${source}: attentionMemory must be true or false (got ${String(config.attentionMemory)})`);
  }
  if (config.wordDetector !== undefined && typeof config.wordDetector !== 'boolean') {
    throw new TypeError(`${source}: wordDetector must be true or false (got ${String(config.wordDetector)})`);
  }
  if (config.phrases !== undefined) {
    const ok = Array.isArray(config.phrases) && config.phrases.every((ph) => Array.isArray(ph) && ph.length === 2 && ph.every((id) => Number.isInteger(id) && id >= 0 && id < config.vocabSize));
    if (!ok) throw new TypeError(`${source}: phrases must be a list of [id, id] pairs of vocabulary ids below vocabSize (${String(config.vocabSize)})`);
    if (config.wordDetector !== true) throw new TypeError(`${source}: phrases (the phrase detector) needs wordDetector: true`);
  }
  // Settings of synthetic-grammar machinery this version does not have: a config naming one was
  // trained or captioned with it, and would silently behave otherwise here.
  for (const key of ['twinMarks', 'orderMarks', 'countablePhrases', 'searchDefaults']) {
    if (key in config) throw new TypeError(`${source}: ${key} is not a setting of this version; remove it (twinMarks and orderMarks change the weights: retrain without them)`);
  }
  if (config.initState !== undefined && config.initState !== 'mean' && config.initState !== 'bias') {
    throw new TypeError(`${source}: initState must be 'mean' or 'bias' (got ${String(config.initState)})`);
  }
  if (config.attentionActivation !== 'relu' && config.attentionActivation !== 'tanh') {
    throw new TypeError(`${source}: attentionActivation must be 'relu' or 'tanh' (got ${String(config.attentionActivation)})`);
  }
  const enc = config.encoder;
  switch (enc?.kind) {
    case 'compact-cnn': {
      if (!Array.isArray(enc.channels) || enc.channels.length < 1 || !enc.channels.every((c) => Number.isInteger(c) && c > 0)) {
        throw new TypeError(`${source}: encoder.channels must be a non-empty list of positive integers (e.g. [32, 64, 128, 128])`);
      }
      const opts = enc as CompactCnnOptions;
      if (opts.kernelSizes !== undefined) {
        const ks = opts.kernelSizes;
        if (!Array.isArray(ks) || ks.length !== enc.channels.length || !ks.every((k) => Number.isInteger(k) && k > 0 && k % 2 === 1)) {
          throw new TypeError(`${source}: encoder.kernelSizes must list one odd positive kernel size per block (${enc.channels.length} blocks), e.g. [3, 3, 1, 1]; got ${JSON.stringify(ks)}`);
        }
      }
      if (opts.contextChannels !== undefined && !(Number.isInteger(opts.contextChannels) && opts.contextChannels >= 0)) {
        throw new TypeError(`${source}: encoder.contextChannels must be an integer >= 0 (got ${JSON.stringify(opts.contextChannels)})`);
      }
      if (opts.coordChannels !== undefined && typeof opts.coordChannels !== 'boolean') {
        throw new TypeError(`${source}: encoder.coordChannels must be true or false`);
      }
      const last = enc.channels[enc.channels.length - 1];
      if (compactCnnOutputDim(opts) !== config.encoderDim) {
        const context = opts.contextChannels ? ` plus ${opts.contextChannels} context channels` : '';
        const coords = opts.coordChannels ? ' plus 2 coordinate channels' : '';
        throw new TypeError(`${source}: encoderDim (${config.encoderDim}) must equal the last encoder channel count (${String(last)})${context}${coords} = ${compactCnnOutputDim(opts)}`);
      }
      break;
    }
    case 'external':
      if (typeof enc.path !== 'string' || enc.path.length === 0) throw new TypeError(`${source}: encoder.path must name a directory holding model.json`);
      if (typeof enc.featureOutput !== 'string' || enc.featureOutput.length === 0) {
        throw new TypeError(`${source}: encoder.featureOutput must name the layer/node that yields the feature grid`);
      }
      if (typeof enc.fineTune !== 'boolean') throw new TypeError(`${source}: encoder.fineTune must be true or false`);
      break;
    case 'precomputed':
      break;
    default:
      throw new TypeError(`${source}: encoder.kind must be 'compact-cnn', 'external' or 'precomputed' (got ${String((enc as { kind?: unknown } | undefined)?.kind)})`);
  }
}
