import * as tf from '@tensorflow/tfjs';
import type { TrainBatch } from '../data/types.js';
import { prepareTargets, teacherForcedLoss, type CaptionTargets, type LossOptions } from './loss.js';
import type { NamedVariable } from './named-variable.js';
import { mixSeed, createRng } from './random.js';
import type { ShowAttendTell } from './show-attend-tell.js';
import type { StepStats, TrainerOptions } from './types.js';
import type { SerializedTensor } from './serialized-tensor.js';
import { WeightAverage, type AveragingState } from './weight-average.js';

/** One optimizer tensor as plain data. */
export type { SerializedTensor };

/** Everything needed to resume training exactly: Adam moments and iteration counts, step count, learning rates. */
export interface TrainerState {
  formatVersion: 1;
  steps: number;
  learningRates: { decoder: number; encoder: number };
  optimizers: { decoder: SerializedTensor[]; encoder: SerializedTensor[] };
  /** With weight averaging: the live weights and their average (the model's saved weights are the average). */
  averaging?: AveragingState;
}

/** One shard's gradients as plain arrays, in Trainer.trainableVariables() order. */
export interface ShardGradients {
  grads: Float32Array[];
  loss: number;
  crossEntropy: number;
  attentionPenalty: number;
  tokens: number;
}

/** Computes the gradients of batch shards elsewhere (worker threads) for data-parallel steps. */
export interface GradientHelpers {
  /** Number of shards the helpers take per step (the trainer's own thread takes one more). */
  readonly size: number;
  /** Gradients of each shard at the given trainable weights; shards.length === size. */
  compute(weights: Float32Array[], shards: TrainBatch[], seeds: number[]): Promise<ShardGradients[]>;
}

interface LocalGradients {
  grads: tf.Tensor[];
  stats: tf.Tensor1D;
  tokens: number;
}

function checkBatch(batch: TrainBatch): void {
  const { batchSize: b, imageSize: s } = batch;
  if (batch.images.length !== b * s * s * 3) {
    throw new RangeError(`TrainBatch.images has ${batch.images.length} values, expected batchSize*imageSize*imageSize*3 = ${b * s * s * 3}`);
  }
}

/** Splits a batch into n shards of nearly equal size (the first ones one larger), rows in order. */
export function splitBatch(batch: TrainBatch, n: number): TrainBatch[] {
  const { batchSize: b, imageSize: s, maxLen } = batch;
  const px = s * s * 3;
  const width = batch.captions.length / b;
  const out: TrainBatch[] = [];
  let from = 0;
  for (let k = 0; k < n; k++) {
    const rows = Math.floor(b / n) + (k < b % n ? 1 : 0);
    const to = from + rows;
    out.push({
      batchSize: rows, imageSize: s, maxLen,
      images: batch.images.slice(from * px, to * px),
      captions: batch.captions.slice(from * width, to * width),
      lengths: batch.lengths.slice(from, to),
      ids: batch.ids.slice(from, to),
    });
    from = to;
  }
  return out;
}

/**
 * The batch's rows ordered longest caption first (stable), as the reference sorts its batches: each
 * decoder step then runs only the first rows, those still decoding (teacherForcedLoss). The loss is
 * a mean over tokens and images, so the order changes no gradient.
 */
export function longestFirst(batch: TrainBatch): TrainBatch {
  const { batchSize: b, imageSize: s } = batch;
  const order = Array.from({ length: b }, (_, i) => i).sort((i, j) => batch.lengths[j]! - batch.lengths[i]! || i - j);
  if (order.every((r, i) => r === i)) return batch;
  const px = s * s * 3;
  const width = batch.captions.length / b;
  const images = new Float32Array(batch.images.length);
  const captions = new Int32Array(batch.captions.length);
  order.forEach((from, to) => {
    images.set(batch.images.subarray(from * px, (from + 1) * px), to * px);
    captions.set(batch.captions.subarray(from * width, (from + 1) * width), to * width);
  });
  return { ...batch, images, captions, lengths: Int32Array.from(order, (i) => batch.lengths[i]!), ids: batch.ids.length === b ? order.map((i) => batch.ids[i]!) : batch.ids };
}

function checkOptions(o: TrainerOptions): void {
  const nonNeg = ['decoderLr', 'encoderLr', 'alphaC', 'clipValue', 'clipNorm'] as const;
  for (const key of nonNeg) {
    if (!(typeof o[key] === 'number' && o[key] >= 0)) throw new RangeError(`Trainer option ${key} must be a number >= 0 (got ${String(o[key])})`);
  }
  if (!(o.scheduledSampling >= 0 && o.scheduledSampling <= 1)) {
    throw new RangeError(`Trainer option scheduledSampling must be a probability in [0, 1] (got ${String(o.scheduledSampling)})`);
  }
  if (o.attentionEntropy !== undefined && !(typeof o.attentionEntropy === 'number' && o.attentionEntropy >= 0)) {
    throw new RangeError(`Trainer option attentionEntropy must be a number >= 0 (got ${String(o.attentionEntropy)})`);
  }
  if (o.wordDetection !== undefined && !(typeof o.wordDetection === 'number' && o.wordDetection >= 0)) {
    throw new RangeError(`Trainer option wordDetection must be a number >= 0 (got ${String(o.wordDetection)})`);
  }
  if (o.attentionGuidance !== undefined && !(typeof o.attentionGuidance === 'number' && o.attentionGuidance >= 0)) {
    throw new RangeError(`Trainer option attentionGuidance must be a number >= 0 (got ${String(o.attentionGuidance)})`);
  }
  if (o.guidanceSharpness !== undefined && !(typeof o.guidanceSharpness === 'number' && o.guidanceSharpness >= 1)) {
    throw new RangeError(`Trainer option guidanceSharpness must be a number >= 1 (got ${String(o.guidanceSharpness)})`);
  }
  if (o.phraseDetection !== undefined && !(typeof o.phraseDetection === 'number' && o.phraseDetection >= 0)) {
    throw new RangeError(`Trainer option phraseDetection must be a number >= 0 (got ${String(o.phraseDetection)})`);
  }
  if (o.averageDecay !== undefined && !(typeof o.averageDecay === 'number' && o.averageDecay >= 0 && o.averageDecay < 1)) {
    throw new RangeError(`Trainer option averageDecay must be a number in [0, 1) (got ${String(o.averageDecay)})`);
  }
  if ((o.attentionGuidance ?? 0) > 0 && !((o.wordDetection ?? 0) > 0)) {
    // The teacher is the word detector: without its loss it is random weights.
    throw new RangeError(`Trainer option attentionGuidance needs wordDetection > 0 (got wordDetection ${String(o.wordDetection ?? 0)})`);
  }
  if (!Number.isInteger(o.seed)) throw new RangeError(`Trainer option seed must be an integer (got ${String(o.seed)})`);
}

/**
 * Teacher-forced training of a ShowAttendTell with the reference's loss: cross-entropy over the real
 * (unpadded) targets plus alphaC * mean over (batch, locations) of (1 - sum over real steps of
 * alpha)^2; Adam with separate decoder/encoder learning rates; gradients clipped by value
 * (reference 5) and optionally by global norm. One optimizer step per batch; all randomness
 * (dropout, scheduled sampling) derives from (seed, step count), so a restored trainer continues
 * exactly as an uninterrupted one.
 */
export class Trainer {
  private readonly decoderOpt: tf.AdamOptimizer;
  private readonly encoderOpt: tf.AdamOptimizer | null;
  private readonly decoderVars: NamedVariable[];
  private readonly encoderVars: NamedVariable[];
  private stepCount = 0;
  private lr: { decoder: number; encoder: number };
  private readonly average: WeightAverage | null;

  constructor(
    readonly model: ShowAttendTell,
    readonly options: TrainerOptions,
    /** Worker threads that compute shards of each step's gradients (data parallelism); none: one thread. */
    private readonly helpers?: GradientHelpers,
  ) {
    checkOptions(options);
    if ((options.phraseDetection ?? 0) > 0 && !(model.config.phrases && model.config.phrases.length > 0)) {
      throw new RangeError('Trainer option phraseDetection needs a model built with a phrase detector (config.phrases)');
    }
    this.decoderVars = model.decoderVariables();
    this.encoderVars = model.encoderVariables();
    this.decoderOpt = tf.train.adam(options.decoderLr);
    this.encoderOpt = this.encoderVars.length > 0 ? tf.train.adam(options.encoderLr) : null;
    this.lr = { decoder: options.decoderLr, encoder: options.encoderLr };
    this.average = (options.averageDecay ?? 0) > 0 ? new WeightAverage(this.trainableNamed(), options.averageDecay!) : null;
  }

  /** A trainer whose optimizers, step count and learning rates continue from a saved state. */
  static async restore(model: ShowAttendTell, opts: TrainerOptions, state: TrainerState, helpers?: GradientHelpers): Promise<Trainer> {
    if (state.formatVersion !== 1) throw new Error(`trainer state formatVersion ${String(state.formatVersion)} was written by another version`);
    const t = new Trainer(model, opts, helpers);
    t.stepCount = state.steps;
    t.setLearningRates(state.learningRates);
    const load = async (opt: tf.AdamOptimizer | null, saved: SerializedTensor[], group: string, vars: NamedVariable[]) => {
      if (!opt) {
        if (saved.length > 0) throw new Error(`trainer state has ${group} optimizer moments but the model's ${group} is not trainable`);
        return;
      }
      // Adam keeps its moments by position: [iterations, m of each variable..., v of each variable...].
      if (saved.length > 1 && saved.length !== 1 + 2 * vars.length) {
        throw new Error(`trainer state holds ${(saved.length - 1) / 2} ${group} moment pairs but the model has ${vars.length} ${group} weights: it belongs to another model`);
      }
      saved.slice(1, 1 + vars.length).forEach((s, i) => {
        if (s.shape.join(',') !== vars[i]!.variable.shape.join(',')) {
          throw new Error(`trainer state moment ${s.name} has shape [${s.shape.join(', ')}], the model's ${vars[i]!.name} [${vars[i]!.variable.shape.join(', ')}]`);
        }
      });
      const tensors = saved.map((s) => ({ name: s.name, tensor: tf.tensor(s.values, s.shape, s.dtype) }));
      try {
        await opt.setWeights(tensors);
      } finally {
        tf.dispose(tensors.map((x) => x.tensor));
      }
    };
    try {
      await load(t.decoderOpt, state.optimizers.decoder, 'decoder', t.decoderVars);
      await load(t.encoderOpt, state.optimizers.encoder, 'encoder', t.encoderVars);
      t.restoreAveraging(state.averaging);
    } catch (err) {
      t.dispose();
      throw err;
    }
    return t;
  }

  /**
   * Runs fn (validation, saving a checkpoint) with the averaged weights in the model when weight
   * averaging is on, else with the live ones; the live weights are back when it settles.
   */
  withAveragedWeights<T>(fn: () => Promise<T>): Promise<T> {
    return this.average ? this.average.withAverage(fn) : fn();
  }

  get steps(): number {
    return this.stepCount;
  }

  setLearningRates(lr: { decoder: number; encoder: number }): void {
    if (!(lr.decoder >= 0 && lr.encoder >= 0)) throw new RangeError(`learning rates must be >= 0 (got ${lr.decoder}, ${lr.encoder})`);
    // Adam reads this field on every applyGradients; the class keeps it protected only by convention.
    (this.decoderOpt as unknown as { learningRate: number }).learningRate = lr.decoder;
    if (this.encoderOpt) (this.encoderOpt as unknown as { learningRate: number }).learningRate = lr.encoder;
    this.lr = { ...lr };
  }

  learningRates(): { decoder: number; encoder: number } {
    return { ...this.lr };
  }

  /**
   * One optimizer step on a batch of images and captions. With gradient helpers (worker threads, see
   * GradientWorkers) the batch is split into shards whose gradients are computed in parallel and
   * averaged, weighted by shard size, before one clipped update: the same step on all cores.
   */
  async step(batch: TrainBatch): Promise<StepStats> {
    checkBatch(batch);
    if (this.average?.swapped) throw new Error('Trainer.step: the averaged weights are swapped in (inside withAveragedWeights)');
    const stepSeed = mixSeed(this.options.seed, this.stepCount);
    const varList = this.trainableVariables();
    const helpers = this.helpers;
    if (!helpers || helpers.size === 0 || batch.batchSize <= helpers.size) {
      const local = this.batchGradients(batch, stepSeed, varList);
      return this.applyGradients(varList, local.grads, local.stats, local.tokens);
    }
    const shards = splitBatch(batch, helpers.size + 1);
    const seeds = shards.map((_, i) => mixSeed(stepSeed, i + 1));
    const weights = await Promise.all(varList.map(async (v) => (await v.data()) as Float32Array));
    const remote = helpers.compute(weights, shards.slice(1), seeds.slice(1));
    // The main thread's shard runs while the helpers run theirs.
    let local: LocalGradients;
    try {
      local = this.batchGradients(shards[0]!, seeds[0]!, varList);
    } catch (err) {
      await remote.catch(() => undefined); // settle the helpers' shards before reporting
      throw err;
    }
    let others: ShardGradients[];
    try {
      others = await remote;
    } catch (err) {
      tf.dispose([...local.grads, local.stats]);
      throw err;
    }
    const share = shards.map((sh) => sh.batchSize / batch.batchSize);
    const combined = tf.tidy(() => {
      const grads = varList.map((v, j) =>
        tf.addN([tf.mul(local.grads[j]!, share[0]!), ...others.map((o, k) => tf.mul(tf.tensor(o.grads[j]!, v.shape), share[k + 1]!))]),
      );
      const stats = tf.addN([tf.mul(local.stats, share[0]!), ...others.map((o, k) => tf.mul(tf.tensor1d([o.loss, o.crossEntropy, o.attentionPenalty]), share[k + 1]!))]);
      return { grads, stats };
    });
    tf.dispose([...local.grads, local.stats]);
    const tokens = local.tokens + others.reduce((n, o) => n + o.tokens, 0);
    return this.applyGradients(varList, combined.grads, combined.stats as tf.Tensor1D, tokens);
  }

  /**
   * Gradients of the loss on one batch (a shard of a step) at the current weights, as plain arrays
   * in trainableVariables() order; applies nothing. What a gradient worker computes.
   */
  async gradients(batch: TrainBatch, seed: number): Promise<ShardGradients> {
    checkBatch(batch);
    const varList = this.trainableVariables();
    return readGradients(this.batchGradients(batch, seed, varList));
  }

  /** The weights a step updates, in the order gradients are exchanged: decoder, then a trainable encoder. */
  trainableVariables(): tf.Variable[] {
    return this.trainableNamed().map((n) => n.variable);
  }

  private trainableNamed(): NamedVariable[] {
    return [...this.decoderVars, ...(this.model.encoderTrainable ? this.encoderVars : [])];
  }

  /** Overwrites the trainable weights with plain arrays in trainableVariables() order (a replica catching up). */
  setTrainableWeights(values: Float32Array[]): void {
    assignAll(this.trainableVariables(), values, 'trainable');
  }

  /** The decoder's weights as plain arrays, in the order weighted decoder gradients are exchanged. */
  decoderWeights(): Promise<Float32Array[]> {
    return Promise.all(this.decoderVars.map(async (n) => (await n.variable.data()) as Float32Array));
  }

  /** Overwrites the decoder's weights with plain arrays in decoderWeights() order (a self-critical replica catching up). */
  setDecoderWeights(values: Float32Array[]): void {
    assignAll(this.decoderVars.map((n) => n.variable), values, 'decoder');
  }

  /** One optimizer step of the decoder on precomputed annotations [B, L, enc] (not disposed). */
  async stepOnFeatures(features: tf.Tensor3D, targets: CaptionTargets): Promise<StepStats> {
    if (this.model.encoderTrainable) throw new Error('stepOnFeatures bypasses the encoder, but this model trains its encoder: use step()');
    const varList = this.trainableVariables();
    const local = this.lossGradients(targets, () => features, mixSeed(this.options.seed, this.stepCount), varList);
    return this.applyGradients(varList, local.grads, local.stats, local.tokens);
  }

  private batchGradients(unordered: TrainBatch, seed: number, varList: tf.Variable[]): LocalGradients {
    const batch = longestFirst(unordered);
    const { batchSize: b, imageSize: s } = batch;
    const images = tf.tensor4d(batch.images, [b, s, s, 3]);
    try {
      if (this.model.encoderTrainable) return this.lossGradients(batch, (training) => this.model.encode(images, training), seed, varList);
      const features = this.model.encode(images, false);
      try {
        return this.lossGradients(batch, () => features, seed, varList);
      } finally {
        features.dispose();
      }
    } finally {
      images.dispose();
    }
  }

  /**
   * One optimizer step of the decoder alone on annotations [rows, L, enc] the caller computed (not
   * disposed), one row per caption, with each target's log-probability weighted (loss.ts tokenWeights)
   * and dropout off: the policy-gradient step of self-critical training, whose captions were sampled
   * from this very network. The detector heads learn nothing here (their losses are off) and the
   * encoder is left as it is, so the detectors' maps, and the counting calibrated on them, stay valid.
   */
  async weightedDecoderStep(features: tf.Tensor3D, targets: CaptionTargets, tokenWeights: Float32Array): Promise<StepStats> {
    if (this.average?.swapped) throw new Error('Trainer.weightedDecoderStep: the averaged weights are swapped in (inside withAveragedWeights)');
    const local = this.weightedDecoderLocal(features, targets, tokenWeights);
    return this.applyGradients(this.decoderVars.map((n) => n.variable), local.grads, local.stats, local.tokens);
  }

  private weightedDecoderLocal(features: tf.Tensor3D, targets: CaptionTargets, tokenWeights: Float32Array): LocalGradients {
    if (features.shape[0] !== targets.batchSize) throw new RangeError(`weightedDecoderStep: ${features.shape[0]} rows of annotations for ${targets.batchSize} captions`);
    const varList = this.decoderVars.map((n) => n.variable);
    const overrides: Partial<LossOptions> = { wordDetection: 0, phraseDetection: 0, training: false, sampleMask: undefined, tokenWeights };
    return this.lossGradients(targets, () => features, mixSeed(this.options.seed, this.stepCount), varList, overrides);
  }

  /**
   * The gradients weightedDecoderStep would apply, as plain arrays in decoderWeights() order; applies
   * nothing. A self-critical shard's work, on the owner's thread or a worker's.
   */
  async weightedDecoderGradients(features: tf.Tensor3D, targets: CaptionTargets, tokenWeights: Float32Array): Promise<ShardGradients> {
    return readGradients(this.weightedDecoderLocal(features, targets, tokenWeights));
  }

  /**
   * One decoder step from several shards' weightedDecoderGradients, averaged by their target tokens:
   * the loss is a sum over tokens divided by their number, so this is the step weightedDecoderStep
   * takes on all the shards' rows at once.
   */
  async applyDecoderShards(shards: readonly ShardGradients[]): Promise<StepStats> {
    if (this.average?.swapped) throw new Error('Trainer.applyDecoderShards: the averaged weights are swapped in (inside withAveragedWeights)');
    const varList = this.decoderVars.map((n) => n.variable);
    const tokens = shards.reduce((n, g) => n + g.tokens, 0);
    if (shards.length === 0 || tokens === 0) throw new RangeError('applyDecoderShards: needs at least one shard with target tokens');
    const combined = tf.tidy(() => {
      const share = shards.map((g) => g.tokens / tokens);
      const grads = varList.map((v, j) => {
        if (shards.some((g) => g.grads[j]?.length !== v.size)) throw new RangeError(`applyDecoderShards: a shard's gradient of ${v.name} does not have its ${v.size} values`);
        return tf.addN(shards.map((g, k) => tf.mul(tf.tensor(g.grads[j]!, v.shape), share[k]!)));
      });
      const stats = tf.addN(shards.map((g, k) => tf.mul(tf.tensor1d([g.loss, g.crossEntropy, g.attentionPenalty]), share[k]!))) as tf.Tensor1D;
      return { grads, stats };
    });
    return this.applyGradients(varList, combined.grads, combined.stats, tokens);
  }

  /** Loss gradients (caller owns them) and [loss, crossEntropy, attentionPenalty]. */
  private lossGradients(targets: CaptionTargets, features: (training: boolean) => tf.Tensor3D, seed: number, varList: tf.Variable[], overrides: Partial<LossOptions> = {}): LocalGradients {
    const prepared = prepareTargets(targets);
    const { batchSize: b, steps, tokens } = prepared;
    let sampleMask: Float32Array | undefined;
    if (this.options.scheduledSampling > 0) {
      const draw = createRng(seed);
      sampleMask = new Float32Array(steps * b);
      for (let i = b; i < steps * b; i++) sampleMask[i] = draw() < this.options.scheduledSampling ? 1 : 0;
    }
    const lossOptions = { alphaC: this.options.alphaC, attentionEntropy: this.options.attentionEntropy ?? 0, wordDetection: this.options.wordDetection ?? 0, attentionGuidance: this.options.attentionGuidance ?? 0, guidanceSharpness: this.options.guidanceSharpness ?? 1, phraseDetection: this.options.phraseDetection ?? 0, training: true, seed, oneHotEmbedding: this.model.useOneHotEmbedding(), sampleMask, ...overrides };
    return tf.tidy(() => {
      let parts: tf.Tensor | undefined;
      const { value, grads } = tf.variableGrads(() => {
        const l = teacherForcedLoss(this.model, features(lossOptions.training), prepared, lossOptions);
        // variableGrads tidies the forward pass; keep the two components for the stats.
        parts = tf.keep(tf.stack([l.crossEntropy, l.attentionPenalty]));
        return l.loss;
      }, varList);
      const stats = tf.concat([tf.reshape(value, [1]), parts!]) as tf.Tensor1D;
      parts!.dispose();
      // A head whose loss is off (a phrase detector trained with phraseDetection 0) has no gradient.
      return { grads: varList.map((v) => grads[v.name] ?? tf.zerosLike(v)), stats, tokens };
    });
  }

  /** Clips and applies gradients (disposing them and stats) and reports the step. */
  private async applyGradients(varList: tf.Variable[], grads: tf.Tensor[], stats: tf.Tensor1D, tokens: number): Promise<StepStats> {
    const { clipValue, clipNorm } = this.options;
    const out = tf.tidy(() => {
      let gs = grads;
      const norm = tf.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g)))));
      if (clipValue > 0) gs = gs.map((g) => tf.clipByValue(g, -clipValue, clipValue));
      if (clipNorm > 0) {
        const clipped = tf.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g)))));
        const scale = tf.div(clipNorm, tf.maximum(clipped, clipNorm));
        gs = gs.map((g) => tf.mul(g, scale));
      }
      const names = varList.map((v) => v.name);
      const nDec = this.decoderVars.length;
      this.decoderOpt.applyGradients(names.slice(0, nDec).map((name, i) => ({ name, tensor: gs[i]! })));
      if (names.length > nDec && this.encoderOpt) this.encoderOpt.applyGradients(names.slice(nDec).map((name, i) => ({ name, tensor: gs[nDec + i]! })));
      return tf.concat([stats, tf.reshape(norm, [1])]);
    });
    tf.dispose([...grads, stats]);
    const [loss, ce, pen, norm] = await out.data().finally(() => out.dispose());
    this.stepCount++;
    this.average?.update();
    return { loss: loss!, crossEntropy: ce!, attentionPenalty: pen!, tokens, gradNorm: norm! };
  }

  /** The optimizers' state as plain data (for checkpoints). */
  async state(): Promise<TrainerState> {
    const dump = async (opt: tf.AdamOptimizer | null): Promise<SerializedTensor[]> => {
      if (!opt) return [];
      const weights = await opt.getWeights();
      const out: SerializedTensor[] = [];
      for (const [i, { name, tensor }] of weights.entries()) {
        const values = (await tensor.data()) as Float32Array | Int32Array;
        out.push({ name, shape: [...tensor.shape], dtype: tensor.dtype === 'int32' ? 'int32' : 'float32', values: values.slice() });
        if (i === 0) tensor.dispose(); // the iteration count is a fresh scalar; the moments are the optimizer's own variables
      }
      return out;
    };
    return {
      formatVersion: 1,
      steps: this.stepCount,
      learningRates: this.learningRates(),
      optimizers: { decoder: await dump(this.decoderOpt), encoder: await dump(this.encoderOpt) },
      ...(this.average ? { averaging: await this.average.state() } : {}),
    };
  }

  dispose(): void {
    this.decoderOpt.dispose();
    this.encoderOpt?.dispose();
    this.average?.dispose();
  }

  private restoreAveraging(saved: AveragingState | undefined): void {
    if (!saved) return; // averaging starts now (or stays off) from the loaded weights
    // The saved model holds the average; training continues from the live weights either way.
    if (this.average) return this.average.restore(saved);
    this.setTrainableWeights(saved.live.map((s) => s.values as Float32Array));
  }
}

/** Local gradients as plain arrays (what crosses a thread), disposing the tensors. */
async function readGradients({ grads, stats, tokens }: LocalGradients): Promise<ShardGradients> {
  try {
    const values = await Promise.all(grads.map(async (g) => (await g.data()) as Float32Array));
    const [loss, crossEntropy, attentionPenalty] = await stats.data();
    return { grads: values, loss: loss!, crossEntropy: crossEntropy!, attentionPenalty: attentionPenalty!, tokens };
  } finally {
    tf.dispose([...grads, stats]);
  }
}

function assignAll(vars: tf.Variable[], values: Float32Array[], what: string): void {
  if (values.length !== vars.length) throw new RangeError(`got ${values.length} weight arrays for ${vars.length} ${what} weights`);
  vars.forEach((v, i) => {
    if (values[i]!.length !== v.size) throw new RangeError(`weight ${v.name} has ${v.size} values, got ${values[i]!.length}`);
    tf.tidy(() => v.assign(tf.tensor(values[i]!, v.shape)));
  });
}
