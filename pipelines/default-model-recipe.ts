/**
 * The recipe of the shipped default model: data set, model and training settings. pipelines/default-model.ts
 * runs it; models/default/README.md says why each choice was made and what it measured.
 */
import type { TrainOptions } from './train.js';

/** The data set, model and training settings of the default model. */
export const DEFAULT_MODEL_RECIPE = {
  /** Training/validation data: 80% / 10% of the scenes of this seed (the 10% test split is not used). */
  data: { seed: 11, count: 3750, imageSize: 64 },
  train: {
    seed: 1,
    batchSize: 32,
    beamSize: 1,
    valLimit: 150,
    epochs: 1000,
    patience: 1000,
    decayEvery: 1000,
    imageSize: 64,
    minWordFreq: 5,
    model: {
      // 3x3 convs only at full and half resolution, 1x1 after: a grid cell sees about its own
      // 8x8-pixel patch plus a margin, so naming an object's shape or colour needs attention on it.
      // Coordinate channels let position and relation words be decided from where attention looks.
      encoder: { kind: 'compact-cnn', channels: [32, 64, 128, 128], kernelSizes: [3, 3, 3, 1], coordChannels: true },
      gridSize: 8,
      attentionDim: 128,
      embedDim: 96,
      decoderDim: 256,
      dropout: 0.2,
      attentionActivation: 'relu',
      // The LSTM starts from learned biases: with the reference's projection of the mean annotation
      // the decoder knows every object before it looks, and attention drifts off what it names.
      initState: 'bias',
    },
    // alphaC 0: the doubly stochastic term asks every cell to be attended about once per caption,
    // which pulls attention off the objects onto the background. (attentionEntropy 0.1 kept colour
    // words' attention on their objects better in a 20-minute run; see models/default/README.md.)
    trainer: { decoderLr: 1.5e-3, encoderLr: 1e-3, alphaC: 0 },
  } satisfies Omit<TrainOptions, 'dataset' | 'outDir'>,
  /** Wall-clock budget of the training run. */
  minutes: 30,
} as const;
