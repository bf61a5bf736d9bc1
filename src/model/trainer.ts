import * as tf from '@tensorflow/tfjs';
import type { TrainBatch } from '../data/types.js';
import { attendPrecompute, decoderStep, initialState, outputLogits } from './decoder.js';
import type { NamedVariable } from './named-variable.js';
import { mixSeed, seededRandom } from './random.js';
import type { ShowAttendTell } from './show-attend-tell.js';
import type { StepStats, TrainerOptions } from './types.js';

/** One optimizer tensor as plain data. */
export interface SerializedTensor {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

/** Everything needed to resume training exactly: Adam moments and iteration counts, step count, learning rates. */
export interface TrainerState {
  formatVersion: 1;
  steps: number;
  learningRates: { decoder: number; encoder: number };
  optimizers: { decoder: SerializedTensor[]; encoder: SerializedTensor[] };
}

/** The caption part of a batch; time steps run over decode lengths = lengths - 1 as the reference. */
export interface CaptionTargets {
  batchSize: number;
  captions: Int32Array;
  lengths: Int32Array;
}

function checkOptions(o: TrainerOptions): void {
  const nonNeg = ['decoderLr', 'encoderLr', 'alphaC', 'clipValue', 'clipNorm'] as const;
  for (const key of nonNeg) {
    if (!(typeof o[key] === 'number' && o[key] >= 0)) throw new RangeError(`Trainer option ${key} must be a number >= 0 (got ${String(o[key])})`);
  }
  if (!(o.scheduledSampling >= 0 && o.scheduledSampling <= 1)) {
    throw new RangeError(`Trainer option scheduledSampling must be a probability in [0, 1] (got ${String(o.scheduledSampling)})`);
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

  constructor(
    readonly model: ShowAttendTell,
    readonly options: TrainerOptions,
  ) {
    checkOptions(options);
    this.decoderVars = model.decoderVariables();
    this.encoderVars = model.encoderVariables();
    this.decoderOpt = tf.train.adam(options.decoderLr);
    this.encoderOpt = this.encoderVars.length > 0 ? tf.train.adam(options.encoderLr) : null;
    this.lr = { decoder: options.decoderLr, encoder: options.encoderLr };
  }

  /** A trainer whose optimizers, step count and learning rates continue from a saved state. */
  static async restore(model: ShowAttendTell, opts: TrainerOptions, state: TrainerState): Promise<Trainer> {
    if (state.formatVersion !== 1) throw new Error(`trainer state formatVersion ${String(state.formatVersion)} was written by another version`);
    const t = new Trainer(model, opts);
    t.stepCount = state.steps;
    t.setLearningRates(state.learningRates);
    const load = async (opt: tf.AdamOptimizer | null, saved: SerializedTensor[], group: string) => {
      if (!opt) {
        if (saved.length > 0) throw new Error(`trainer state has ${group} optimizer moments but the model's ${group} is not trainable`);
        return;
      }
      const tensors = saved.map((s) => ({ name: s.name, tensor: tf.tensor(s.values, s.shape, s.dtype) }));
      try {
        await opt.setWeights(tensors);
      } finally {
        tf.dispose(tensors.map((x) => x.tensor));
      }
    };
    await load(t.decoderOpt, state.optimizers.decoder, 'decoder');
    await load(t.encoderOpt, state.optimizers.encoder, 'encoder');
    return t;
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

  /** One optimizer step on a batch of images and captions. */
  async step(batch: TrainBatch): Promise<StepStats> {
    const { batchSize: b, imageSize: s } = batch;
    if (batch.images.length !== b * s * s * 3) {
      throw new RangeError(`TrainBatch.images has ${batch.images.length} values, expected batchSize*imageSize*imageSize*3 = ${b * s * s * 3}`);
    }
    const images = tf.tensor4d(batch.images, [b, s, s, 3]);
    try {
      if (this.model.encoderTrainable) return await this.run(batch, (training) => this.model.encode(images, training), true);
      const features = this.model.encode(images, false);
      try {
        return await this.run(batch, () => features, false);
      } finally {
        features.dispose();
      }
    } finally {
      images.dispose();
    }
  }

  /** One optimizer step of the decoder on precomputed annotations [B, L, enc] (not disposed). */
  async stepOnFeatures(features: tf.Tensor3D, targets: CaptionTargets): Promise<StepStats> {
    if (this.model.encoderTrainable) throw new Error('stepOnFeatures bypasses the encoder, but this model trains its encoder: use step()');
    return this.run(targets, () => features, false);
  }

  private async run(targets: CaptionTargets, features: (training: boolean) => tf.Tensor3D, trainEncoder: boolean): Promise<StepStats> {
    const { batchSize: b, captions, lengths } = targets;
    if (lengths.length !== b || captions.length % b !== 0 || b === 0) {
      throw new RangeError(`batch of ${b}: lengths has ${lengths.length} entries and captions ${captions.length} ids; expected batchSize lengths and batchSize*T ids`);
    }
    const width = captions.length / b;
    let steps = 0;
    for (const len of lengths) {
      if (len < 2 || len > width) throw new RangeError(`caption length ${len} is outside [2, ${width}] (lengths count <start> and <end>)`);
      steps = Math.max(steps, len - 1);
    }
    // Time-major plain arrays: row t holds the inputs/targets of every caption at step t.
    const inputs = new Int32Array(steps * b);
    const outputs = new Int32Array(steps * b);
    const mask = new Float32Array(steps * b);
    for (let t = 0; t < steps; t++) {
      for (let i = 0; i < b; i++) {
        inputs[t * b + i] = captions[i * width + t]!;
        outputs[t * b + i] = captions[i * width + t + 1]!;
        mask[t * b + i] = t < lengths[i]! - 1 ? 1 : 0;
      }
    }
    const tokens = mask.reduce((a, x) => a + x, 0);
    const stepSeed = mixSeed(this.options.seed, this.stepCount);
    const sampling = this.options.scheduledSampling;
    const draw = seededRandom(stepSeed);
    const sampleMask = new Float32Array(steps * b);
    if (sampling > 0) for (let i = b; i < steps * b; i++) sampleMask[i] = draw() < sampling ? 1 : 0;

    const model = this.model;
    const cfg = model.config;
    const w = model.decoder;
    const oneHot = model.useOneHotEmbedding();
    const embed = (ids: tf.Tensor1D): tf.Tensor2D =>
      oneHot ? tf.matMul(tf.cast(tf.oneHot(ids, cfg.vocabSize), 'float32'), w.embedding as tf.Tensor2D) : (tf.gather(w.embedding, ids) as tf.Tensor2D);
    const varList = [...this.decoderVars, ...(trainEncoder ? this.encoderVars : [])].map((n) => n.variable);
    const { alphaC, clipValue, clipNorm } = this.options;

    const stats = tf.tidy(() => {
      let parts: tf.Tensor | undefined;
      const lossFn = (): tf.Scalar => {
        const feats = features(true);
        const ctx = attendPrecompute(w, feats);
        let { h, c } = initialState(w, feats);
        const maskT = tf.tensor2d(mask, [steps, b]);
        const targetIds = tf.tensor1d(outputs, 'int32');
        const alphas: tf.Tensor2D[] = [];
        let logits: tf.Tensor2D;
        if (sampling === 0) {
          const embs = tf.unstack(tf.reshape(embed(tf.tensor1d(inputs, 'int32')), [steps, b, cfg.embedDim])) as tf.Tensor2D[];
          const hs: tf.Tensor2D[] = [];
          for (let t = 0; t < steps; t++) {
            const o = decoderStep(w, ctx, embs[t]!, h, c, cfg.attentionActivation);
            ({ h, c } = o);
            hs.push(h);
            alphas.push(o.alpha);
          }
          logits = outputLogits(w, tf.concat(hs, 0), cfg.dropout, true, mixSeed(stepSeed, 1));
        } else {
          const perStep: tf.Tensor2D[] = [];
          let prev: tf.Tensor2D | undefined;
          for (let t = 0; t < steps; t++) {
            let ids = tf.tensor1d(inputs.subarray(t * b, (t + 1) * b), 'int32');
            if (prev) {
              const use = tf.tensor1d(sampleMask.subarray(t * b, (t + 1) * b), 'bool');
              ids = tf.where(use, tf.cast(tf.argMax(prev, 1), 'int32'), ids) as tf.Tensor1D;
            }
            const o = decoderStep(w, ctx, embed(ids), h, c, cfg.attentionActivation);
            ({ h, c } = o);
            alphas.push(o.alpha);
            prev = outputLogits(w, h, cfg.dropout, true, mixSeed(stepSeed, t + 1));
            perStep.push(prev);
          }
          logits = tf.concat(perStep, 0);
        }
        const logp = tf.logSoftmax(logits);
        const picked = tf.sum(tf.mul(logp, tf.oneHot(targetIds, cfg.vocabSize)), 1);
        const ce = tf.div(tf.neg(tf.sum(tf.mul(picked, tf.reshape(maskT, [steps * b])))), tokens);
        const attended = tf.sum(tf.mul(tf.stack(alphas), tf.expandDims(maskT, 2)), 0);
        const penalty = tf.mean(tf.square(tf.sub(1, attended)));
        parts = tf.keep(tf.stack([ce, penalty]));
        return tf.add(ce, tf.mul(penalty, alphaC)) as tf.Scalar;
      };
      const { value, grads } = tf.variableGrads(lossFn, varList);
      const names = varList.map((v) => v.name);
      let gs = names.map((n) => grads[n]!);
      const norm = tf.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g)))));
      if (clipValue > 0) gs = gs.map((g) => tf.clipByValue(g, -clipValue, clipValue));
      if (clipNorm > 0) {
        const clipped = tf.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g)))));
        const scale = tf.div(clipNorm, tf.maximum(clipped, clipNorm));
        gs = gs.map((g) => tf.mul(g, scale));
      }
      const nDec = this.decoderVars.length;
      this.decoderOpt.applyGradients(names.slice(0, nDec).map((name, i) => ({ name, tensor: gs[i]! })));
      if (trainEncoder && this.encoderOpt) this.encoderOpt.applyGradients(names.slice(nDec).map((name, i) => ({ name, tensor: gs[nDec + i]! })));
      const out = tf.concat([tf.reshape(value, [1]), parts!, tf.reshape(norm, [1])]);
      parts!.dispose();
      return out;
    });
    const [loss, ce, pen, norm] = await stats.data().finally(() => stats.dispose());
    this.stepCount++;
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
    };
  }

  dispose(): void {
    this.decoderOpt.dispose();
    this.encoderOpt?.dispose();
  }
}
