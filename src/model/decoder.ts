import * as tf from '@tensorflow/tfjs';
import type { NamedVariable } from './named-variable.js';
import { uniformArray } from './random.js';
import type { ModelConfig } from './types.js';

/** The decoder's weights; kernels are [in, out] so every product is a plain matMul. */
export interface DecoderWeights {
  embedding: tf.Variable; // [V, embed]
  encoderAttKernel: tf.Variable; // [enc, att]
  encoderAttBias: tf.Variable;
  decoderAttKernel: tf.Variable; // [dec, att]
  decoderAttBias: tf.Variable;
  fullAttKernel: tf.Variable; // [att, 1]
  fullAttBias: tf.Variable;
  initHKernel: tf.Variable; // [enc, dec]
  initHBias: tf.Variable;
  initCKernel: tf.Variable;
  initCBias: tf.Variable;
  fBetaKernel: tf.Variable; // [dec, enc]
  fBetaBias: tf.Variable;
  /** [embed + enc + dec, 4*dec]; gate columns in PyTorch's order (input, forget, cell, output). */
  lstmKernel: tf.Variable;
  lstmBias: tf.Variable; // b_ih + b_hh folded into one
  fcKernel: tf.Variable; // [dec, V]
  fcBias: tf.Variable;
  /** [enc, V]: the context's direct path to the logits (config.deepOutput). */
  contextOutKernel?: tf.Variable;
  /** [2, att]: how the previous map and the coverage enter every cell's score (config.attentionMemory). */
  memoryAttKernel?: tf.Variable;
  /** [enc, V] and [V]: the word detector (config.wordDetector): a training signal, and the beams' re-ranker. */
  detectorKernel?: tf.Variable;
  detectorBias?: tf.Variable;
  /** [enc, P] and [P]: the phrase detector (config.phrases), the word detector's two-word companion. */
  phraseKernel?: tf.Variable;
  phraseBias?: tf.Variable;
}

const snake = (s: string) => s.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);

/**
 * Creates the decoder weights with the reference's initialisation: embedding and fc U(-0.1, 0.1),
 * fc bias 0; every other Linear as PyTorch's default U(+-1/sqrt(fan_in)) for weight and bias;
 * the LSTMCell U(+-1/sqrt(hidden)); PyTorch has two LSTM biases that are always summed, we keep one
 * drawn from U(+-2/sqrt(hidden)) (the range of that sum).
 */
export function createDecoderWeights(config: ModelConfig, prefix: string, rng: () => number): { weights: DecoderWeights; named: NamedVariable[] } {
  const { vocabSize: v, encoderDim: enc, attentionDim: att, embedDim: emb, decoderDim: dec } = config;
  const named: NamedVariable[] = [];
  const make = (key: string, shape: number[], bound: number, fill = 0): tf.Variable => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = bound === 0 ? new Float32Array(n).fill(fill) : uniformArray(rng, n, -bound, bound);
    const name = `decoder/${snake(key)}`;
    // tidy disposes the initial-value tensor; the variable keeps the data.
    const variable = tf.tidy(() => tf.variable(tf.tensor(values, shape), true, `${prefix}/${name}`));
    named.push({ name, variable });
    return variable;
  };
  const lin = (fanIn: number) => 1 / Math.sqrt(fanIn);
  const lstm = 1 / Math.sqrt(dec);
  const weights: DecoderWeights = {
    embedding: make('embedding', [v, emb], 0.1),
    encoderAttKernel: make('encoderAttKernel', [enc, att], lin(enc)),
    encoderAttBias: make('encoderAttBias', [att], lin(enc)),
    decoderAttKernel: make('decoderAttKernel', [dec, att], lin(dec)),
    decoderAttBias: make('decoderAttBias', [att], lin(dec)),
    fullAttKernel: make('fullAttKernel', [att, 1], lin(att)),
    fullAttBias: make('fullAttBias', [1], lin(att)),
    initHKernel: make('initHKernel', [enc, dec], lin(enc)),
    initHBias: make('initHBias', [dec], lin(enc)),
    initCKernel: make('initCKernel', [enc, dec], lin(enc)),
    initCBias: make('initCBias', [dec], lin(enc)),
    fBetaKernel: make('fBetaKernel', [dec, enc], lin(dec)),
    fBetaBias: make('fBetaBias', [enc], lin(dec)),
    lstmKernel: make('lstmKernel', [emb + enc + dec, 4 * dec], lstm),
    lstmBias: make('lstmBias', [4 * dec], 2 * lstm),
    fcKernel: make('fcKernel', [dec, v], 0.1),
    fcBias: make('fcBias', [v], 0),
  };
  if (config.deepOutput) weights.contextOutKernel = make('contextOutKernel', [enc, v], 0.1);
  if (config.attentionMemory) weights.memoryAttKernel = make('memoryAttKernel', [2, att], lin(2));
  if (config.wordDetector) {
    weights.detectorKernel = make('detectorKernel', [enc, v], lin(enc));
    // Every cell starts near-silent (softplus(-6) ~ 0.0025, x64 cells: P(word) ~ 0.15): noisy-OR adds
    // the cells' evidence up, so a bias of 0 would start every word as certainly present.
    weights.detectorBias = make('detectorBias', [v], 0, -6);
  }
  if (config.phrases && config.phrases.length > 0) {
    weights.phraseKernel = make('phraseKernel', [enc, config.phrases.length], lin(enc));
    weights.phraseBias = make('phraseBias', [config.phrases.length], 0, -6);
  }
  return { weights, named };
}

/** Per-sequence tensors computed once from the annotations (the reference recomputes att1 each step). */
export interface DecoderContext {
  /** Annotations [B, L, enc]. */
  features: tf.Tensor3D;
  /** encoder_att(features) [B, L, att]. */
  att1: tf.Tensor3D;
  /**
   * Annotations transposed to [B, enc, L], for large grids only: the context product then streams
   * the big operand instead of repacking it per image ([32,1,196]x[32,196,2048] took 2.5x longer).
   */
  featuresT?: tf.Tensor3D;
  /** Set by training: per-step weight products then use these for their input gradients. */
  kernelsT?: TransposedKernels;
}

/**
 * Above this many values per image, contexts are computed from the transposed annotations, on wasm
 * only: its batched product repacks the big operand per image. TensorFlow's does not, and there the
 * transpose itself cost more (a 16-step greedy batch at the reference sizes, three alternating rounds:
 * 407-447 ms with it, 377-395 ms without).
 */
const TRANSPOSED_CONTEXT_MIN = 65536;
const transposedContextPays = (valuesPerImage: number): boolean => valuesPerImage >= TRANSPOSED_CONTEXT_MIN && tf.getBackend() === 'wasm';

/** Where attention has looked so far (config.attentionMemory), per row [rows, L]. */
export interface AttentionMemory {
  /** The previous step's map (zeros before the first step). */
  previous: tf.Tensor2D;
  /** The sum of all earlier maps. */
  coverage: tf.Tensor2D;
}

/** The empty memory of `rows` decoding rows, or undefined for a model without attention memory. Not tidied. */
export function initialMemory(w: DecoderWeights, rows: number, locations: number): AttentionMemory | undefined {
  return w.memoryAttKernel ? { previous: tf.zeros([rows, locations]), coverage: tf.zeros([rows, locations]) } : undefined;
}

export interface StepOutput {
  h: tf.Tensor2D;
  c: tf.Tensor2D;
  /** Attention weights [B, L] (each row sums to 1). */
  alpha: tf.Tensor2D;
  /** The memory for the next step (undefined without attention memory). */
  memory?: AttentionMemory;
  /** The gated context that entered the LSTM [B, enc] (the deep output reads it too). */
  context: tf.Tensor2D;
}

const dense = (x: tf.Tensor2D, k: tf.Variable, b: tf.Variable): tf.Tensor2D => tf.add(tf.matMul(x, k as tf.Tensor2D), b);

/**
 * x·W + b whose input gradient uses a W^T computed once per sequence: tfjs's matMul gradient asks
 * for dy·W^T (transposeB), which the wasm backend serves by transposing W on every step (the
 * single largest cost of a reference-size training step).
 */
function denseWithTransposed(x: tf.Tensor2D, k: tf.Variable, kT: tf.Tensor2D, b: tf.Variable): tf.Tensor2D {
  const linear = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const input = args[0] as tf.Tensor2D;
    // kT is saved with the input: tensors captured any other way are disposed with the forward pass.
    (args[2] as tf.GradSaveFunc)([input, kT]);
    return {
      value: tf.matMul(input, args[1] as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [savedInput, savedKT] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [tf.matMul(dy, savedKT), tf.matMul(tf.transpose(savedInput), dy)];
      },
    };
  }) as (input: tf.Tensor2D, kernel: tf.Tensor2D) => tf.Tensor2D;
  return tf.add(linear(x, k as tf.Tensor2D), b);
}

/** Transposed copies of the recurrent kernels, for training (see denseWithTransposed). */
export interface TransposedKernels {
  lstm: tf.Tensor2D;
  fBeta: tf.Tensor2D;
  decoderAtt: tf.Tensor2D;
}

/** Computes the transposed kernels once per training sequence. Not tidied. */
export function transposedKernels(w: DecoderWeights): TransposedKernels {
  return {
    lstm: tf.transpose(w.lstmKernel as tf.Tensor2D),
    fBeta: tf.transpose(w.fBetaKernel as tf.Tensor2D),
    decoderAtt: tf.transpose(w.decoderAttKernel as tf.Tensor2D),
  };
}

/** att1 = encoder_att(a). Not tidied: call inside the caller's tidy / gradient scope. */
export function attendPrecompute(w: DecoderWeights, features: tf.Tensor3D): DecoderContext {
  const [b, l, enc] = features.shape;
  const att = w.encoderAttKernel.shape[1]!;
  const att1 = tf.reshape(dense(tf.reshape(features, [b * l, enc]), w.encoderAttKernel, w.encoderAttBias), [b, l, att]) as tf.Tensor3D;
  const featuresT = transposedContextPays(l * enc) ? (tf.transpose(features, [0, 2, 1]) as tf.Tensor3D) : undefined;
  return { features, att1, featuresT };
}

/**
 * init_h / init_c = Linear(mean over locations of a) (no tanh, as the reference) for mode 'mean';
 * for 'bias' the Linear layers' biases alone, the same state for every image.
 */
export function initialState(w: DecoderWeights, features: tf.Tensor3D, mode: 'mean' | 'bias' = 'mean'): { h: tf.Tensor2D; c: tf.Tensor2D } {
  const m = tf.mean(features, 1) as tf.Tensor2D;
  // 'bias' feeds zeros through the same layers: the kernels stay in the graph (a zero gradient rather
  // than none, which variableGrads would refuse) and the state is exactly the biases.
  const mean = mode === 'bias' ? (tf.zerosLike(m) as tf.Tensor2D) : m;
  return { h: dense(mean, w.initHKernel, w.initHBias), c: dense(mean, w.initCKernel, w.initCBias) };
}

/**
 * attendPrecompute for a search that keeps the context across steps: made in a tidy, so only the
 * tensors it returns survive; `tensors` lists them for the caller to dispose.
 */
export function keptContext(w: DecoderWeights, features: tf.Tensor3D): { att1: tf.Tensor3D; featuresT?: tf.Tensor3D; tensors: tf.Tensor[] } {
  const kept = tf.tidy(() => {
    const c = attendPrecompute(w, features);
    return c.featuresT ? [c.att1, c.featuresT] : [c.att1];
  });
  return { att1: kept[0] as tf.Tensor3D, featuresT: kept[1] as tf.Tensor3D | undefined, tensors: kept };
}

/**
 * The initial state repeated for `rowsPerImage` decoding rows per image, image-major ([B * k, D]):
 * the layout decoderStep's rowsPerImage expects (beam search's k hypotheses, sampling's k draws).
 */
export function initialStatePerRow(w: DecoderWeights, features: tf.Tensor3D, rowsPerImage: number, mode: 'mean' | 'bias' = 'mean'): { h: tf.Tensor2D; c: tf.Tensor2D } {
  const s = initialState(w, features, mode);
  const rep = (t: tf.Tensor2D) => tf.reshape(tf.tile(tf.expandDims(t, 1), [1, rowsPerImage, 1]), [-1, t.shape[1]]) as tf.Tensor2D;
  return { h: rep(s.h), c: rep(s.c) };
}

/**
 * One decoder step in the reference order: attention weights and the f_beta gate from h_{t-1};
 * (h, c) = LSTMCell([emb(y_{t-1}); gated context], (h, c)). `rowsPerImage` > 1 lets beam search
 * run k hypotheses per image against the untiled [B, L, enc] annotations (rows are image-major).
 */
export function decoderStep(
  w: DecoderWeights,
  ctx: DecoderContext,
  emb: tf.Tensor2D,
  h: tf.Tensor2D,
  c: tf.Tensor2D,
  activation: 'relu' | 'tanh',
  rowsPerImage = 1,
  memory?: AttentionMemory,
): StepOutput {
  const [b, l, enc] = ctx.features.shape;
  const att = ctx.att1.shape[2];
  const k = rowsPerImage;
  const kT = ctx.kernelsT;
  const hAtt = kT ? denseWithTransposed(h, w.decoderAttKernel, kT.decoderAtt, w.decoderAttBias) : dense(h, w.decoderAttKernel, w.decoderAttBias);
  const att2 = tf.reshape(hAtt, [b, k, 1, att]);
  let pre = tf.add(tf.reshape(ctx.att1, [b, 1, l, att]), att2);
  if (w.memoryAttKernel) {
    if (!memory) throw new Error('decoderStep: this model reads where attention has looked (attentionMemory); pass the memory (initialMemory at the first step)');
    const [uPrev, uCov] = tf.unstack(w.memoryAttKernel) as [tf.Tensor1D, tf.Tensor1D];
    const cell = (m: tf.Tensor2D, u: tf.Tensor1D) => tf.mul(tf.reshape(m, [b, k, l, 1]), u);
    pre = tf.add(pre, tf.add(cell(memory.previous, uPrev), cell(memory.coverage, uCov)));
  }
  const act = activation === 'relu' ? tf.relu(pre) : tf.tanh(pre);
  const e = tf.add(tf.matMul(tf.reshape(act, [b * k * l, att]), w.fullAttKernel as tf.Tensor2D), w.fullAttBias);
  const alpha = tf.softmax(tf.reshape(e, [b * k, l])) as tf.Tensor2D;
  const alpha3 = tf.reshape(alpha, [b, k, l]);
  const context = ctx.featuresT
    ? tf.reshape(tf.transpose(tf.matMul(ctx.featuresT, alpha3, false, true), [0, 2, 1]), [b * k, enc])
    : tf.reshape(tf.matMul(alpha3, ctx.features), [b * k, enc]);
  const gate = tf.sigmoid(kT ? denseWithTransposed(h, w.fBetaKernel, kT.fBeta, w.fBetaBias) : dense(h, w.fBetaKernel, w.fBetaBias));
  const gated = tf.mul(gate, context) as tf.Tensor2D;
  const x = tf.concat([emb, gated, h], 1) as tf.Tensor2D;
  const z = kT ? denseWithTransposed(x, w.lstmKernel, kT.lstm, w.lstmBias) : dense(x, w.lstmKernel, w.lstmBias);
  const [zi, zf, zg, zo] = tf.split(z, 4, 1) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
  const cNew = tf.add(tf.mul(tf.sigmoid(zf), c), tf.mul(tf.sigmoid(zi), tf.tanh(zg))) as tf.Tensor2D;
  const hNew = tf.mul(tf.sigmoid(zo), tf.tanh(cNew)) as tf.Tensor2D;
  const next = memory && w.memoryAttKernel ? { previous: alpha, coverage: tf.add(memory.coverage, alpha) as tf.Tensor2D } : undefined;
  return { h: hNew, c: cNew, alpha, context: gated, memory: next };
}

/** fc(dropout(h)) [+ context · W_z with the deep output]: logits [N, V]. */
export function outputLogits(w: DecoderWeights, h: tf.Tensor2D, context: tf.Tensor2D, dropout: number, training: boolean, seed?: number): tf.Tensor2D {
  const x = training && dropout > 0 ? (tf.dropout(h, dropout, undefined, seed) as tf.Tensor2D) : h;
  const logits = dense(x, w.fcKernel, w.fcBias);
  return w.contextOutKernel ? tf.add(logits, tf.matMul(context, w.contextOutKernel as tf.Tensor2D)) : logits;
}
