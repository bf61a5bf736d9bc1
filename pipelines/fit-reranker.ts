/**
 * The re-ranker's network, fitted to candidate pools (reranker-pools.ts): one hidden layer, trained
 * listwise with Adam (a softmax over each image's candidates against a target spread evenly over those
 * with the best reward), validated after every epoch by the corpus BLEU-4 of the captions it chooses on
 * the validation pools, for each weight of the model's own score beside it. From the middle epoch on,
 * the running mean of the weights is validated too (stochastic weight averaging, Izmailov et al. 2018):
 * on 500 validation images single epochs swung by 0.01 BLEU-4 from one to the next.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, shuffle } from '../src/data/rng.js';
import { corpusBleu } from '../src/metrics/bleu.js';
import { rerankerScore, type RerankerNet } from '../src/model/index.js';
import type { ImagePool } from './reranker-pools.js';

export interface FitOptions {
  hidden: number;
  epochs: number;
  learningRate: number;
  /** Images per optimizer step. */
  batchSize: number;
  /** Weights of the model's own score tried at validation. */
  logProbWeights: readonly number[];
  seed: number;
  /** Keep the best epoch even when it does not beat the model's own choice. */
  writeEvenIfWorse?: boolean;
  signal?: AbortSignal;
  onEpoch?: (e: { epoch: number; loss: number; valBleu4: number; logProbWeight: number; averaged: boolean; best: boolean }) => void;
}

export interface NetWeights {
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
}

export interface FitResult {
  mean: Float32Array;
  std: Float32Array;
  /** The model's own choice on the validation pools (the first candidate of each). */
  baselineBleu4: number;
  /** The best validated network; weights undefined when none beat the baseline (and writeEvenIfWorse is off). */
  best: { bleu4: number; epoch: number; weight: number; averaged: boolean; weights?: NetWeights };
}

/** Features that barely vary are scaled by at least this spread, so a rare word does not dominate. */
const MIN_STD = 1e-2;

export function fitReranker(trainPools: readonly ImagePool[], valPools: readonly ImagePool[], inputs: number, o: FitOptions): FitResult {
  const { mean, std } = standardisation(trainPools, inputs);
  const baselineBleu4 = corpusBleu(valPools.map((p) => p.words[0]!), valPools.map((p) => p.references)).bleu[3];
  const net = new ListwiseNet(inputs, o.hidden, o.seed, o.learningRate);
  const averageFrom = Math.ceil(o.epochs / 2);
  let average: NetWeights | undefined;
  let averaged = 0;
  let best: FitResult['best'] = { bleu4: o.writeEvenIfWorse ? -Infinity : baselineBleu4, epoch: 0, weight: 1, averaged: false };
  try {
    const rng = createRng(o.seed);
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      o.signal?.throwIfAborted();
      const order = shuffle([...trainPools], rng);
      let loss = 0;
      let steps = 0;
      for (let i = 0; i < order.length; i += o.batchSize) {
        loss += net.step(order.slice(i, i + o.batchSize), mean, std);
        steps++;
      }
      const live = net.snapshot();
      const tried: Array<{ weights: NetWeights; averaged: boolean }> = [{ weights: live, averaged: false }];
      if (epoch >= averageFrom) {
        averaged++;
        average = average ? runningMean(average, live, averaged) : live;
        tried.push({ weights: average, averaged: true });
      }
      for (const t of tried) {
        const top = validateNet(valPools, { inputs, hidden: o.hidden, mean, std, ...t.weights }, o.logProbWeights);
        const better = top.bleu4 > best.bleu4;
        if (better) best = { bleu4: top.bleu4, epoch, weight: top.w, averaged: t.averaged, weights: t.weights };
        o.onEpoch?.({ epoch, loss: loss / steps, valBleu4: top.bleu4, logProbWeight: top.w, averaged: t.averaged, best: better });
      }
    }
  } finally {
    net.dispose();
  }
  return { mean, std, baselineBleu4, best };
}

/** The weight of the model's own score, of those given, with which the network chooses best on the pools, and the corpus BLEU-4 it gives. */
export function validateNet(pools: readonly ImagePool[], net: RerankerNet, logProbWeights: readonly number[]): { w: number; bleu4: number } {
  const scores = pools.map((p) => p.features.map((x) => rerankerScore(net, x)));
  return logProbWeights.map((w) => ({ w, bleu4: chosenBleu4(pools, (i, c) => scores[i]![c]!, w) })).reduce((a, b) => (b.bleu4 > a.bleu4 ? b : a));
}

/**
 * One network whose score is the mean of the members' (networks of `hidden` units each, fitted to the
 * same pools and so standardised alike): their hidden layers side by side, w2 divided by their number.
 * So an ensemble is stored and scored as a single wider network.
 */
export function ensembleOf(members: readonly NetWeights[], inputs: number, hidden: number): NetWeights {
  const k = members.length;
  const w1 = new Float32Array(inputs * hidden * k);
  for (let i = 0; i < inputs; i++) members.forEach((m, j) => w1.set(m.w1.subarray(i * hidden, (i + 1) * hidden), (i * k + j) * hidden));
  const side = (pick: (m: NetWeights) => Float32Array, scale: number) => {
    const out = new Float32Array(hidden * k);
    members.forEach((m, j) => out.set(pick(m).map((v) => v * scale), j * hidden));
    return out;
  };
  return { w1, b1: side((m) => m.b1, 1), w2: side((m) => m.w2, 1 / k) };
}

/** The mean of n snapshots from the mean of the first n - 1 and the nth. */
function runningMean(mean: NetWeights, next: NetWeights, n: number): NetWeights {
  const mix = (a: Float32Array, b: Float32Array) => Float32Array.from(a, (v, i) => v + (b[i]! - v) / n);
  return { w1: mix(mean.w1, next.w1), b1: mix(mean.b1, next.b1), w2: mix(mean.w2, next.w2) };
}

/** Corpus BLEU-4 of choosing, per image, the candidate with the best score(i, c) + w x the model's own score. */
function chosenBleu4(pools: readonly ImagePool[], score: (image: number, candidate: number) => number, w: number): number {
  const chosen = pools.map((p, i) => {
    let best = 0;
    for (let c = 1; c < p.words.length; c++) if (score(i, c) + w * p.scores[c]! > score(i, best) + w * p.scores[best]!) best = c;
    return p.words[best]!;
  });
  return corpusBleu(chosen, pools.map((p) => p.references)).bleu[3];
}

function standardisation(pools: readonly ImagePool[], inputs: number): { mean: Float32Array; std: Float32Array } {
  const mean = new Float64Array(inputs);
  const square = new Float64Array(inputs);
  let n = 0;
  for (const p of pools) {
    for (const x of p.features) {
      for (let d = 0; d < inputs; d++) {
        mean[d]! += x[d]!;
        square[d]! += x[d]! * x[d]!;
      }
      n++;
    }
  }
  const m = Float32Array.from(mean, (s) => s / n);
  const std = Float32Array.from(square, (s, d) => Math.max(Math.sqrt(Math.max(0, s / n - m[d]! ** 2)), MIN_STD));
  return { mean: m, std };
}

/** The re-ranker's network during training: relu(z W1 + b1) . w2, trained listwise with Adam. */
class ListwiseNet {
  private readonly w1: tf.Variable;
  private readonly b1: tf.Variable;
  private readonly w2: tf.Variable;
  private readonly optimizer: tf.AdamOptimizer;

  constructor(
    private readonly inputs: number,
    private readonly hidden: number,
    seed: number,
    learningRate: number,
  ) {
    this.optimizer = tf.train.adam(learningRate);
    // tidy frees the initial values; the variables it returns are kept.
    [this.w1, this.b1, this.w2] = tf.tidy(() => [
      tf.variable(tf.randomNormal([inputs, hidden], 0, Math.sqrt(2 / inputs), 'float32', seed)),
      tf.variable(tf.zeros([hidden])),
      tf.variable(tf.randomNormal([hidden, 1], 0, Math.sqrt(1 / hidden), 'float32', seed + 1)),
    ]);
  }

  /** One step on a batch of pools; returns the mean listwise loss. */
  step(batch: readonly ImagePool[], mean: Float32Array, std: Float32Array): number {
    const width = Math.max(...batch.map((p) => p.rewards.length));
    const x = new Float32Array(batch.length * width * this.inputs);
    const mask = new Float32Array(batch.length * width).fill(-1e4);
    const target = new Float32Array(batch.length * width);
    batch.forEach((p, b) => {
      const top = Math.max(...p.rewards);
      const winners = p.rewards.filter((r) => r === top).length;
      p.features.forEach((f, c) => {
        const row = (b * width + c) * this.inputs;
        for (let d = 0; d < this.inputs; d++) x[row + d] = (f[d]! - mean[d]!) / std[d]!;
        mask[b * width + c] = 0;
        if (p.rewards[c] === top) target[b * width + c] = 1 / winners;
      });
    });
    const loss = tf.tidy(() => {
      const xs = tf.tensor2d(x, [batch.length * width, this.inputs]);
      const m = tf.tensor2d(mask, [batch.length, width]);
      const y = tf.tensor2d(target, [batch.length, width]);
      return this.optimizer.minimize(() => {
        const s = tf.add(tf.reshape(this.forward(xs), [batch.length, width]), m);
        return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(s)), 1))) as tf.Scalar;
      }, true, [this.w1, this.b1, this.w2])!;
    });
    const value = loss.dataSync()[0]!;
    loss.dispose();
    return value;
  }

  snapshot(): NetWeights {
    return { w1: Float32Array.from(this.w1.dataSync()), b1: Float32Array.from(this.b1.dataSync()), w2: Float32Array.from(this.w2.dataSync()) };
  }

  dispose(): void {
    tf.dispose([this.w1, this.b1, this.w2]);
    this.optimizer.dispose();
  }

  private forward(x: tf.Tensor2D): tf.Tensor1D {
    return tf.reshape(tf.matMul(tf.relu(tf.add(tf.matMul(x, this.w1), this.b1)), this.w2), [-1]) as tf.Tensor1D;
  }
}
