import * as tf from '@tensorflow/tfjs';
import { attendPrecompute, decoderStep, initialMemory, initialState, outputLogits, transposedKernels } from './decoder.js';
import { mixSeed } from './random.js';
import { captionPhraseLabels } from './phrases.js';
import type { ShowAttendTell } from './show-attend-tell.js';

/** The caption part of a batch: B rows of T ids (<start> w.. <end> <pad>..) and lengths n + 2. */
export interface CaptionTargets {
  batchSize: number;
  captions: Int32Array;
  lengths: Int32Array;
}

/** Captions rearranged time-major over the decode lengths (lengths - 1), as plain arrays. */
export interface PreparedTargets {
  batchSize: number;
  steps: number;
  /** [steps * B]: the input word of each caption at step t (row t = all captions). */
  inputs: Int32Array;
  /** [steps * B]: the word to predict. */
  outputs: Int32Array;
  /** [steps * B]: 1 for real targets, 0 past the caption's end. */
  mask: Float32Array;
  tokens: number;
}

/** Validates a batch's captions and lays them out time-major. */
export function prepareTargets({ batchSize: b, captions, lengths }: CaptionTargets): PreparedTargets {
  if (b < 1 || lengths.length !== b || captions.length % b !== 0) {
    throw new RangeError(`batch of ${b}: lengths has ${lengths.length} entries and captions ${captions.length} ids; expected batchSize lengths and batchSize*T ids`);
  }
  const width = captions.length / b;
  let steps = 0;
  for (const len of lengths) {
    if (!(len >= 2 && len <= width)) throw new RangeError(`caption length ${len} is outside [2, ${width}] (lengths count <start> and <end>)`);
    steps = Math.max(steps, len - 1);
  }
  const inputs = new Int32Array(steps * b);
  const outputs = new Int32Array(steps * b);
  const mask = new Float32Array(steps * b);
  let tokens = 0;
  for (let t = 0; t < steps; t++) {
    for (let i = 0; i < b; i++) {
      inputs[t * b + i] = captions[i * width + t]!;
      outputs[t * b + i] = captions[i * width + t + 1]!;
      const real = t < lengths[i]! - 1 ? 1 : 0;
      mask[t * b + i] = real;
      tokens += real;
    }
  }
  return { batchSize: b, steps, inputs, outputs, mask, tokens };
}

export interface LossOptions {
  alphaC: number;
  /** Weight of the mean attention entropy over real steps (default 0). */
  attentionEntropy?: number;
  /** Dropout active (its mask seeded by `seed`). */
  training: boolean;
  seed: number;
  /** Embed with matMul(oneHot(ids), E) instead of gather (gather's gradient is slow or missing on wasm). */
  oneHotEmbedding: boolean;
  /** Weight of the word-detector loss (needs config.wordDetector; default 0). */
  wordDetection?: number;
  /** Weight of the detector-guided attention loss (needs config.wordDetector; default 0). */
  attentionGuidance?: number;
  /** Exponent k of the guidance teacher, q proportional to p^k (default 1; see attentionGuidanceLoss). */
  guidanceSharpness?: number;
  /** Weight of the phrase-detector loss (needs config.phrases; default 0). */
  phraseDetection?: number;
  /** [steps * B]: 1 where the previous step's argmax replaces the ground-truth input (scheduled sampling). */
  sampleMask?: Float32Array;
  /**
   * [steps * B]: a weight on each target's log-probability in the cross-entropy term (default 1 on
   * every real target). Self-critical training weights a searched caption's words by its advantage.
   */
  tokenWeights?: Float32Array;
  /** Run every row at every step, padding masked, instead of only the rows still decoding (benchmarks compare the two). */
  everyRowEveryStep?: boolean;
}

export interface LossParts {
  loss: tf.Scalar;
  crossEntropy: tf.Scalar;
  attentionPenalty: tf.Scalar;
}

/**
 * The reference's training loss under teacher forcing: mean cross-entropy over real targets plus
 * alphaC * mean over (batch, locations) of (1 - sum over the caption's real steps of alpha)^2.
 * With teacher forcing each step runs only the rows still decoding, as the reference shrinks its
 * batch; with scheduled sampling padded steps are masked instead (the same result). Not tidied:
 * call inside the caller's tidy / variableGrads scope.
 */
export function teacherForcedLoss(model: ShowAttendTell, features: tf.Tensor3D, p: PreparedTargets, o: LossOptions): LossParts {
  const cfg = model.config;
  const w = model.decoder;
  const { batchSize: b, steps } = p;
  const embed = (ids: tf.Tensor1D): tf.Tensor2D =>
    o.oneHotEmbedding ? tf.matMul(tf.cast(tf.oneHot(ids, cfg.vocabSize), 'float32'), w.embedding as tf.Tensor2D) : (tf.gather(w.embedding, ids) as tf.Tensor2D);
  const ctx = { ...attendPrecompute(w, features), kernelsT: transposedKernels(w) };
  let { h, c } = initialState(w, features, cfg.initState);
  let memory = initialMemory(w, b, features.shape[1]);
  const alphas: tf.Tensor2D[] = [];
  let logits: tf.Tensor2D;
  // Which (step, row) pairs the logits cover, step by step: every row at every step unless teacher
  // forcing shrinks the batch (below).
  let rowsAt = Array<number>(steps).fill(b);
  if (!o.sampleMask) {
    // Teacher forcing: embed every step at once and apply fc once to all hidden states. As in the
    // reference, step t runs only the rows whose caption is still going (the first rowsAt[t]: the
    // trainer orders a batch longest caption first), which saves the work of the padded rows.
    if (!o.everyRowEveryStep) rowsAt = activeRowsPerStep(p);
    const embs = tf.unstack(tf.reshape(embed(tf.tensor1d(p.inputs, 'int32')), [steps, b, cfg.embedDim])) as tf.Tensor2D[];
    const contextsFor = new Map<number, typeof ctx>([[b, ctx]]);
    const hs: tf.Tensor2D[] = [];
    const contexts: tf.Tensor2D[] = [];
    for (let t = 0; t < steps; t++) {
      const rows = rowsAt[t]!;
      if (rows < h.shape[0]) {
        h = firstRows(h, rows);
        c = firstRows(c, rows);
        if (memory) memory = { previous: firstRows(memory.previous, rows), coverage: firstRows(memory.coverage, rows) };
      }
      let rowsCtx = contextsFor.get(rows);
      if (!rowsCtx) {
        rowsCtx = { ...ctx, features: firstRows(ctx.features, rows), att1: firstRows(ctx.att1, rows), featuresT: ctx.featuresT && firstRows(ctx.featuresT, rows) };
        contextsFor.set(rows, rowsCtx);
      }
      const emb = rows < b ? firstRows(embs[t]!, rows) : embs[t]!;
      const out = decoderStep(w, rowsCtx, emb, h, c, cfg.attentionActivation, 1, memory);
      ({ h, c, memory } = out);
      hs.push(h);
      contexts.push(out.context);
      // Rows past their caption's end attend nowhere; the mask drops them from every term anyway.
      alphas.push(rows < b ? (tf.pad(out.alpha, [[0, b - rows], [0, 0]]) as tf.Tensor2D) : out.alpha);
    }
    logits = outputLogits(w, tf.concat(hs, 0), tf.concat(contexts, 0), cfg.dropout, o.training, mixSeed(o.seed, 1));
  } else {
    const perStep: tf.Tensor2D[] = [];
    let prev: tf.Tensor2D | undefined;
    for (let t = 0; t < steps; t++) {
      let emb = embed(tf.tensor1d(p.inputs.subarray(t * b, (t + 1) * b), 'int32'));
      if (prev) {
        // The model's own previous prediction, embedded through oneHot so that no gradient tries to
        // flow into integer ids (gather's index gradient is an error in tfjs).
        const own = tf.matMul(tf.oneHot(tf.argMax(prev, 1), cfg.vocabSize).toFloat(), w.embedding as tf.Tensor2D);
        const use = tf.tensor2d(o.sampleMask.subarray(t * b, (t + 1) * b), [b, 1]);
        emb = tf.add(tf.mul(own, use), tf.mul(emb, tf.sub(1, use)));
      }
      const out = decoderStep(w, ctx, emb, h, c, cfg.attentionActivation, 1, memory);
      ({ h, c, memory } = out);
      alphas.push(out.alpha);
      prev = outputLogits(w, h, out.context, cfg.dropout, o.training, mixSeed(o.seed, t + 1));
      perStep.push(prev);
    }
    logits = tf.concat(perStep, 0);
  }
  const maskT = tf.tensor2d(p.mask, [steps, b]);
  const logp = tf.logSoftmax(logits);
  const weights = o.tokenWeights ? checkTokenWeights(o.tokenWeights, steps * b).map((x, i) => x * p.mask[i]!) : p.mask;
  const picked = tf.sum(tf.mul(logp, tf.oneHot(tf.tensor1d(byStep(p.outputs, rowsAt, b), 'int32'), cfg.vocabSize)), 1);
  const ceWeights = tf.tensor1d(byStep(weights, rowsAt, b));
  const crossEntropy = tf.div(tf.neg(tf.sum(tf.mul(picked, ceWeights))), p.tokens) as tf.Scalar;
  const stacked = tf.stack(alphas) as tf.Tensor3D; // [steps, B, L]
  const attended = tf.sum(tf.mul(stacked, tf.expandDims(maskT, 2)), 0);
  const attentionPenalty = tf.mean(tf.square(tf.sub(1, attended))) as tf.Scalar;
  let loss = tf.add(crossEntropy, tf.mul(attentionPenalty, o.alphaC)) as tf.Scalar;
  if (o.attentionEntropy !== undefined && o.attentionEntropy > 0) {
    const entropy = tf.neg(tf.sum(tf.mul(stacked, tf.log(tf.add(stacked, 1e-8))), 2)); // [steps, B]
    loss = tf.add(loss, tf.mul(tf.div(tf.sum(tf.mul(entropy, maskT)), p.tokens), o.attentionEntropy)) as tf.Scalar;
  }
  const guided = o.attentionGuidance !== undefined && o.attentionGuidance > 0;
  if ((o.wordDetection !== undefined && o.wordDetection > 0) || guided) {
    const z = detectorLogits(model, features);
    if (o.wordDetection !== undefined && o.wordDetection > 0) {
      loss = tf.add(loss, tf.mul(wordDetectionLossFromLogits(z, p), o.wordDetection)) as tf.Scalar;
    }
    if (guided) {
      loss = tf.add(loss, tf.mul(attentionGuidanceLoss(z, stacked, p, o.guidanceSharpness ?? 1), o.attentionGuidance!)) as tf.Scalar;
    }
  }
  if (o.phraseDetection !== undefined && o.phraseDetection > 0) {
    loss = tf.add(loss, tf.mul(phraseDetectionLoss(model, features, p), o.phraseDetection)) as tf.Scalar;
  }
  return { loss, crossEntropy, attentionPenalty };
}

/**
 * Rows still decoding at each step: 1 + the last row with a real target there. With rows ordered
 * longest caption first that is the number of captions still going; in any order, a safe bound.
 */
export function activeRowsPerStep(p: PreparedTargets): number[] {
  const rows: number[] = [];
  for (let t = 0; t < p.steps; t++) {
    let last = 0;
    for (let i = 0; i < p.batchSize; i++) if (p.mask[t * p.batchSize + i]! > 0) last = i + 1;
    rows.push(last);
  }
  return rows;
}

/** The entries of a time-major [steps * B] array for the first rowsAt[t] rows of each step, in order. */
function byStep<T extends Int32Array | Float32Array>(values: T, rowsAt: readonly number[], b: number): T {
  if (rowsAt.every((r) => r === b)) return values;
  const parts = rowsAt.map((rows, t) => values.subarray(t * b, t * b + rows));
  const out = new (values.constructor as new (n: number) => T)(parts.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of parts) {
    out.set(x, at);
    at += x.length;
  }
  return out;
}

function firstRows<R extends tf.Rank>(x: tf.Tensor<R>, rows: number): tf.Tensor<R> {
  return tf.slice(x, 0, rows) as tf.Tensor<R>;
}

function checkTokenWeights(weights: Float32Array, expected: number): Float32Array {
  if (weights.length !== expected) throw new RangeError(`tokenWeights has ${weights.length} entries, expected steps * batchSize = ${expected}`);
  return weights;
}

/** [B, V]: 1 for every word the caption's targets contain (including <end>). */
export function captionWordLabels(p: PreparedTargets, vocabSize: number): Float32Array {
  const labels = new Float32Array(p.batchSize * vocabSize);
  for (let i = 0; i < p.steps * p.batchSize; i++) {
    if (p.mask[i]! > 0) labels[(i % p.batchSize) * vocabSize + p.outputs[i]!] = 1;
  }
  return labels;
}

/**
 * Multiple-instance word detection (Fang et al. 2015): each grid cell i gives p_i(w) = sigmoid(z_i(w)),
 * the image P(w) = 1 - prod_i (1 - p_i(w)) (noisy-OR), and the loss is the binary cross-entropy of P
 * against the words of the caption, mean over images and words. With S = sum_i softplus(z_i),
 * 1 - P = exp(-S), so -log(1 - P) = S and -log P = -log(-expm1(-S)). No box or location is used:
 * only which words the caption has. Not tidied (runs inside the caller's variableGrads).
 */
export function wordDetectionLoss(model: ShowAttendTell, features: tf.Tensor3D, p: PreparedTargets): tf.Scalar {
  return wordDetectionLossFromLogits(detectorLogits(model, features), p);
}

/** [B, L, V]: the word detector's per-cell logits z_i(w). */
export function detectorLogits(model: ShowAttendTell, features: tf.Tensor3D): tf.Tensor3D {
  const w = model.decoder;
  if (!w.detectorKernel || !w.detectorBias) throw new Error('wordDetection or attentionGuidance > 0 needs a model built with wordDetector: true');
  return cellLogits(features, w.detectorKernel, w.detectorBias);
}

/** [B, L, P]: the phrase detector's per-cell logits. */
export function phraseLogits(model: ShowAttendTell, features: tf.Tensor3D): tf.Tensor3D {
  const w = model.decoder;
  if (!w.phraseKernel || !w.phraseBias) throw new Error('phraseDetection > 0 needs a model built with phrases (config.phrases)');
  return cellLogits(features, w.phraseKernel, w.phraseBias);
}

/** [B, L, K]: a linear classifier [enc, K] + [K] applied to every annotation of [B, L, enc]. */
function cellLogits(features: tf.Tensor3D, kernel: tf.Variable, bias: tf.Variable): tf.Tensor3D {
  const [b, l, enc] = features.shape;
  const z = tf.add(tf.matMul(tf.reshape(features, [b * l, enc]), kernel as tf.Tensor2D), bias);
  return tf.reshape(z, [b, l, kernel.shape[1]!]);
}

function wordDetectionLossFromLogits(z: tf.Tensor3D, p: PreparedTargets): tf.Scalar {
  const [b, , v] = z.shape;
  return noisyOrLoss(z, tf.tensor2d(captionWordLabels(p, v), [b, v]));
}

/**
 * The word detector's kind of multiple-instance loss, over the caption's two-word phrases (phrases.ts):
 * noisy-OR over cells, binary cross-entropy against which phrases the caption has, mean over images
 * and phrases. Not tidied (runs inside the caller's variableGrads).
 */
export function phraseDetectionLoss(model: ShowAttendTell, features: tf.Tensor3D, p: PreparedTargets): tf.Scalar {
  const phrases = model.config.phrases ?? [];
  const z = phraseLogits(model, features);
  return noisyOrLoss(z, tf.tensor2d(captionPhraseLabels(p.outputs, p.mask, p.batchSize, phrases), [p.batchSize, phrases.length]));
}

/** Binary cross-entropy of the noisy-OR over cells of sigmoid(z) [B, L, K] against labels y [B, K]; mean. */
function noisyOrLoss(z: tf.Tensor3D, y: tf.Tensor2D): tf.Scalar {
  const s = tf.sum(tf.softplus(z), 1); // [B, K]
  const present = tf.neg(tf.log(tf.maximum(tf.neg(tf.expm1(tf.neg(s))), 1e-7)));
  return tf.mean(tf.add(tf.mul(y, present), tf.mul(tf.sub(1, y), s))) as tf.Scalar;
}

/** Identity forward, zero gradient: the teacher below is a target, not something to move. */
const stopGradient = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({ value: (args[0] as tf.Tensor).clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) }));

/**
 * Detector-guided attention: at each real step t the word detector's cells for the target word
 * y_t, q_t(i) = p_i(y_t) / sum_j p_j(y_t), are a teacher for the attention alpha_t that predicts
 * y_t. The loss is KL(q_t || alpha_t), weighted per step by how peaked the teacher is,
 * 1 - H(q_t) / log L, so words the detector does not localise (function words, and everything early
 * in training) pull little; mean over real steps. The teacher gets no gradient (the detector learns
 * only from its own loss), and it learns from which words a caption has, never where they are: no
 * box reaches it. Not tidied (runs inside the caller's variableGrads).
 *
 * sharpness k > 1 uses p_i(y_t)^k instead: a detector whose map also lights the cells next to a small
 * object then teaches attention to peak on the object's own cell, not halfway between.
 *
 * @param z [B, L, V] detector logits; @param alphas [steps, B, L] attention per step.
 */
export function attentionGuidanceLoss(z: tf.Tensor3D, alphas: tf.Tensor3D, p: PreparedTargets, sharpness = 1): tf.Scalar {
  if (!(sharpness >= 1)) throw new RangeError(`guidance sharpness must be >= 1 (got ${sharpness})`);
  const [b, l, v] = z.shape;
  const { steps } = p;
  const probs = sharpness === 1 ? tf.sigmoid(z) : tf.pow(tf.sigmoid(z), sharpness);
  const cells = stopGradient(tf.transpose(probs, [0, 2, 1])) as tf.Tensor3D; // [B, V, L]
  const targets = tf.transpose(tf.reshape(tf.oneHot(tf.tensor1d(p.outputs, 'int32'), v).toFloat(), [steps, b, v]), [1, 0, 2]); // [B, steps, V]
  const raw = tf.transpose(tf.matMul(targets as tf.Tensor3D, cells), [1, 0, 2]); // [steps, B, L]
  const q = tf.div(raw, tf.add(tf.sum(raw, 2, true), 1e-8));
  const logQ = tf.log(tf.add(q, 1e-8));
  const entropy = tf.neg(tf.sum(tf.mul(q, logQ), 2)); // [steps, B]
  const weight = tf.sub(1, tf.div(entropy, Math.log(l)));
  const kl = tf.sum(tf.mul(q, tf.sub(logQ, tf.log(tf.add(alphas, 1e-8)))), 2); // [steps, B]
  const maskT = tf.tensor2d(p.mask, [steps, b]);
  return tf.div(tf.sum(tf.mul(tf.mul(kl, weight), maskT)), p.tokens) as tf.Scalar;
}
