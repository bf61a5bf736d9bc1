import * as tf from '@tensorflow/tfjs';
import { CompactCnnEncoder } from './compact-cnn.js';
import { validateModelConfig } from './config.js';
import { createDecoderWeights, type DecoderWeights } from './decoder.js';
import { ExternalEncoder } from './external-encoder.js';
import type { NamedVariable } from './named-variable.js';
import { createRng } from './random.js';
import type { ModelConfig } from './types.js';

/** How the decoder embeds word ids when gradients are needed. */
export type EmbeddingMode = 'auto' | 'gather' | 'one-hot';

interface Encoder {
  readonly variables: NamedVariable[];
  encode(images: tf.Tensor4D, training: boolean): tf.Tensor3D;
  dispose(): void;
}

let instances = 0;

/** Up to this vocabulary size 'auto' embeds with oneHot·E even where gather has a gradient kernel. */
const ONE_HOT_MAX_VOCAB = 2048;

/**
 * Show, Attend and Tell: an encoder producing a grid of annotation vectors and the soft-attention
 * LSTM decoder of the reference tutorial. Owns its variables; dispose() frees them.
 */
export class ShowAttendTell {
  readonly config: ModelConfig;
  /** Decoder weights, for the decoding functions in decoder.ts. */
  readonly decoder: DecoderWeights;
  /**
   * 'auto' embeds with matMul(oneHot(ids), E) for small vocabularies or when the backend lacks
   * gather's gradient kernel (UnsortedSegmentSum), else with gather. Measured on wasm (bench-model):
   * V = 32 oneHot 1039 vs gather 1509 ms/step; V = 9490 gather 7.5 vs oneHot 10.3 s/step.
   * Inference always gathers.
   */
  embeddingMode: EmbeddingMode = 'auto';
  private readonly encoder: Encoder | null;
  private readonly decoderNamed: NamedVariable[];

  private constructor(config: ModelConfig, encoder: Encoder | null, seed: number, prefix: string) {
    this.config = config;
    this.encoder = encoder;
    const { weights, named } = createDecoderWeights(config, prefix, createRng(seed ^ 0x5eed));
    this.decoder = weights;
    this.decoderNamed = named;
  }

  /**
   * Creates a model with freshly initialised, seeded weights. Synchronous, so it cannot load an
   * external backbone: use ShowAttendTell.load for encoder kind 'external'.
   */
  static create(config: ModelConfig, opts: { seed?: number } = {}): ShowAttendTell {
    validateModelConfig(config);
    if (config.encoder.kind === 'external') {
      throw new TypeError(`ShowAttendTell.create cannot load the external encoder in ${config.encoder.path}; use await ShowAttendTell.load(config)`);
    }
    const seed = opts.seed ?? 0;
    const prefix = `sat${instances++}`;
    const encoder = config.encoder.kind === 'compact-cnn' ? new CompactCnnEncoder(config.encoder, config.gridSize, prefix, createRng(seed)) : null;
    return new ShowAttendTell(config, encoder, seed, prefix);
  }

  /** Like create, and also loads an external backbone from its local directory. */
  static async load(config: ModelConfig, opts: { seed?: number } = {}): Promise<ShowAttendTell> {
    validateModelConfig(config);
    if (config.encoder.kind !== 'external') return ShowAttendTell.create(config, opts);
    const enc = config.encoder;
    const encoder = await ExternalEncoder.load(enc.path, enc.featureOutput, enc.fineTune, config.gridSize);
    return new ShowAttendTell(config, encoder, opts.seed ?? 0, `sat${instances++}`);
  }

  /**
   * images [B, S, S, 3] (preprocessed) -> annotations [B, grid*grid, encoderDim]; caller owns the
   * result. With encoder kind 'precomputed' the input is already the annotations and is returned
   * as a new handle (so the caller may dispose both).
   */
  encode(images: tf.Tensor4D, training = false): tf.Tensor3D {
    if (!this.encoder) {
      const t = images as unknown as tf.Tensor;
      if (t.rank !== 3) throw new TypeError(`encoder kind 'precomputed' takes features [B, ${this.config.gridSize ** 2}, ${this.config.encoderDim}], got rank ${t.rank}`);
      return tf.clone(t) as tf.Tensor3D;
    }
    const out = this.encoder.encode(images, training);
    const want = [this.config.gridSize ** 2, this.config.encoderDim];
    if (out.shape[1] !== want[0] || out.shape[2] !== want[1]) {
      const shape = out.shape.join(', ');
      out.dispose();
      throw new Error(`encoder produced [${shape}], the config expects [B, ${want[0]}, ${want[1]}]: fix gridSize/encoderDim`);
    }
    return out;
  }

  /** True when the encoder has weights that training updates (compact CNN, or external with fineTune). */
  get encoderTrainable(): boolean {
    return (this.encoder?.variables.length ?? 0) > 0;
  }

  /** Decoder weights in a fixed order with canonical names. */
  decoderVariables(): NamedVariable[] {
    return [...this.decoderNamed];
  }

  /** Trainable encoder weights in a fixed order (empty when frozen or precomputed). */
  encoderVariables(): NamedVariable[] {
    return [...(this.encoder?.variables ?? [])];
  }

  /** Every weight the checkpoint stores: trainable encoder weights, then the decoder's. */
  namedWeights(): NamedVariable[] {
    return [...this.encoderVariables(), ...this.decoderVariables()];
  }

  /** Whether training should embed with oneHot·E (true) or gather (false). */
  useOneHotEmbedding(): boolean {
    if (this.embeddingMode !== 'auto') return this.embeddingMode === 'one-hot';
    return this.config.vocabSize <= ONE_HOT_MAX_VOCAB || tf.getKernel('UnsortedSegmentSum', tf.getBackend()) === undefined;
  }

  dispose(): void {
    this.encoder?.dispose();
    for (const v of this.decoderNamed) v.variable.dispose();
  }
}
