/** Contracts of the model layer. Everything here is plain data; tensors stay inside src/model. */

export type AttentionActivation = 'relu' | 'tanh';

export type EncoderConfig =
  | {
      kind: 'compact-cnn';
      /** Output channels of each conv block; each block after the first halves the resolution. */
      channels: number[];
      /**
       * Odd kernel size per block (default 3 everywhere). 1x1 blocks at coarse resolutions keep each
       * grid cell's receptive field close to the cell, so attention has to look where the object is.
       */
      kernelSizes?: number[];
      /** Append each cell's (x, y) centre as two fixed channels, so position words can be read off attention. */
      coordChannels?: boolean;
      /** Width of a 3x3 context branch over the final grid, appended beside each cell's features (see CompactCnnOptions). */
      contextChannels?: number;
    }
  | {
      kind: 'external';
      /** Directory holding a tfjs LayersModel or GraphModel (model.json + shards). */
      path: string;
      /** Name of the output (LayersModel layer name or GraphModel node name) that yields the feature grid. */
      featureOutput: string;
      /** Train the backbone's weights too (encoder learning rate applies). */
      fineTune: boolean;
    }
  | {
      /** Features are computed elsewhere and fed in directly ([B, grid*grid, encoderDim]); benchmarks use it. */
      kind: 'precomputed';
    };

export interface ModelConfig {
  formatVersion: 1;
  encoder: EncoderConfig;
  /** Feature grid side after adaptive average pooling (reference: 14). */
  gridSize: number;
  /** Channels of each annotation vector (reference: 2048). */
  encoderDim: number;
  attentionDim: number;
  embedDim: number;
  decoderDim: number;
  /** Number of entries of the vocabulary including <pad>, <unk>, <start>, <end>. */
  vocabSize: number;
  dropout: number;
  attentionActivation: AttentionActivation;
  /**
   * How the LSTM state starts: 'mean' (the reference, default when absent) projects the mean
   * annotation; 'bias' starts every image from learned biases, so the decoder learns nothing of the
   * image except through attention (with 'mean' it knows each object's colour and shape before it
   * looks anywhere, and attention drifts off the objects it names).
   */
  initState?: 'mean' | 'bias';
  /**
   * A word-detector head (Fang et al. 2015, "From captions to visual concepts"):
   * a linear classifier on every annotation, pooled over the grid by noisy-OR, predicts which words
   * the caption contains. Its loss (trainer option wordDetection) gives each cell a direct signal to
   * recognise what it sees, from the captions alone. At inference it only re-ranks the finished
   * beams (detector-rerank.ts); it never steers the search. Absent: false.
   */
  wordDetector?: boolean;
  /**
   * A phrase-detector head beside the word detector (phrases.ts): the same per-cell, noisy-OR
   * classifier over two-word phrases of the training captions, as pairs of vocabulary ids ("red
   * circle"). A cell has to see both words on one object, so it learns bindings the word detector
   * cannot express; at inference it re-ranks the finished beams with the words. Needs wordDetector.
   * Absent: none.
   */
  phrases?: Array<[number, number]>;
  /**
   * Xu et al.'s deep output (eq. 7), which the reference PyTorch code leaves out: the word logits add
   * a linear readout of the current gated context to fc(h), so a word can be read straight off the
   * attended annotation and attention must be on what the word names. Absent: false.
   */
  deepOutput?: boolean;
  /**
   * Attention that knows where it has looked: each cell's score also reads that cell's weight in the
   * previous map (location-aware attention, Chorowski et al. 2015) and the sum of all earlier maps
   * (coverage, Tu et al. 2016). A word's attention can then stay on the object its previous word named
   * ("blue" -> "triangle") and move on to objects not yet described. Absent: false.
   */
  attentionMemory?: boolean;
}

/** The search's own options (src/decoding/beam-search.ts); whatever steers or re-ranks it goes through its hooks. */
export interface BeamOptions {
  /** k; 1 is greedy decoding. */
  beamSize: number;
  /** Step cap (reference: 50). */
  maxSteps: number;
  /** How many ranked hypotheses to return per image (default 1 = only the best). */
  returnAlternatives?: number;
}

export interface Hypothesis {
  /** Word ids without <start>, with the final <end> if finished. */
  ids: number[];
  /** Words without <start>/<end>. */
  words: string[];
  /** Summed log-probability (the ranking score of the bare search). */
  logProb: number;
  /** The score used for ranking: logProb as changed by the search's re-scorers, if any (decoding/hooks.ts). */
  score: number;
  /** False when the step cap was reached without <end>: the reference crashes there, this search returns the best unfinished one. */
  finished: boolean;
  /** One attention map (grid*grid, row-major, sums to 1) per emitted token including <end>. */
  attention: Float32Array[];
}

export interface CaptionResult {
  caption: string;
  best: Hypothesis;
  /** Ranked hypotheses, best first (length = returnAlternatives). */
  alternatives: Hypothesis[];
  gridSize: number;
}

export interface StepStats {
  loss: number;
  crossEntropy: number;
  attentionPenalty: number;
  /** Number of predicted (unpadded) tokens in the batch. */
  tokens: number;
  gradNorm?: number;
}

export interface TrainerOptions {
  decoderLr: number;
  encoderLr: number;
  /** Weight of the doubly stochastic attention penalty (reference: 1). */
  alphaC: number;
  /** Clip each gradient element to [-v, v] (reference: 5). 0 disables. */
  clipValue: number;
  /** Optional global-norm clipping. 0 disables. */
  clipNorm: number;
  /** Probability of feeding the model's own previous prediction instead of the ground truth. */
  scheduledSampling: number;
  seed: number;
  /**
   * Weight of the mean entropy of the attention maps over the real steps (default 0): a prior towards
   * peaked maps, which then have to move between the objects the words name instead of covering all
   * of them at every step. No location label is involved.
   */
  attentionEntropy?: number;
  /** Weight of the word-detector loss (model config wordDetector must be true); default 0. */
  wordDetection?: number;
  /**
   * Weight of detector-guided attention (model config wordDetector must be true); default 0. The
   * detector's map for each target word is a teacher for the attention that predicts it.
   */
  attentionGuidance?: number;
  /**
   * Exponent k of the guidance teacher, q proportional to p^k (default 1): k > 1 moves the teacher's
   * mass from the cells beside an object onto the object's own cells.
   */
  guidanceSharpness?: number;
  /** Weight of the phrase-detector loss (model config phrases must be set); default 0. */
  phraseDetection?: number;
  /**
   * Decay of an exponential moving average of the weights (Polyak averaging), in [0, 1); 0 (default)
   * disables. Validation and checkpoints then use the averaged weights; training continues from the live ones.
   */
  averageDecay?: number;
}
