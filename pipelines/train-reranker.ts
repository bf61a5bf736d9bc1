/**
 * Trains a model's learned re-ranker (src/model/reranker.ts) and stores it beside the model as
 * reranker.json. The candidate pools of training images (the beam's finished captions and the greedy
 * completions of the commonest openings of the training references) are built once; a one-hidden-layer
 * network then learns, listwise (a softmax over each image's candidates, the target spread over those
 * with the best BLEU-4 against the references), which candidate to choose. Each epoch is validated on
 * the val split's pools: corpus BLEU-4 of the chosen captions, for each weight of the model's own score;
 * the best epoch and weight are kept, and the file is written only if they beat the model's own choice.
 */
import * as tf from '@tensorflow/tfjs';
import { Observable } from 'rxjs';
import { createRng, shuffle } from '../src/data/rng.js';
import type { CaptionedImage } from '../src/data/types.js';
import { corpusBleu } from '../src/metrics/bleu.js';
import { commonOpenings, featureCount, loadCheckpoint, modelIdOf, writeReranker, type Reranker } from '../src/model/index.js';
import { candidatePools, type ImagePool } from './reranker-pools.js';

export interface RerankerTrainingOptions {
  /** The model to train a re-ranker for; reranker.json is written into it. */
  modelDir: string;
  dataset: { name: string; images: CaptionedImage[] };
  /** Training images (the first of the train split; default all). */
  trainImages?: number;
  /** Validation images (the first of the val split; default 500). */
  valImages?: number;
  /** Openings completed for every image (default 6). */
  openings?: number;
  beamSize?: number;
  hidden?: number;
  epochs?: number;
  learningRate?: number;
  /** Images per optimizer step. */
  batchSize?: number;
  /** Weights of the model's own score tried at validation. */
  logProbWeights?: readonly number[];
  seed?: number;
  /** Write the best epoch even when it does not beat the model's own choice (default false). */
  writeEvenIfWorse?: boolean;
  signal?: AbortSignal;
}

export type RerankerEvent =
  | { kind: 'pools'; split: 'train' | 'val'; done: number; images: number }
  | { kind: 'epoch'; epoch: number; loss: number; valBleu4: number; logProbWeight: number; best: boolean }
  | { kind: 'done'; written: string | undefined; baselineBleu4: number; bestBleu4: number; bestEpoch: number; logProbWeight: number; candidatesPerImage: number; minutes: number };

const DEFAULTS = { valImages: 500, openings: 6, beamSize: 4, hidden: 64, epochs: 20, learningRate: 1e-3, batchSize: 64, logProbWeights: [0, 0.1, 0.3], seed: 1 };
/** Longest caption searched, as in evaluation. */
const MAX_STEPS = 50;
/** Features that barely vary are scaled by at least this spread, so a rare word does not dominate. */
const MIN_STD = 1e-2;

/** Trains and writes the re-ranker; events report the pools' progress, every epoch and the result. */
export function trainReranker(options: RerankerTrainingOptions): Observable<RerankerEvent> {
  return new Observable<RerankerEvent>((subscriber) => {
    const abort = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
    run({ ...options, signal }, (e) => subscriber.next(e)).then(
      () => subscriber.complete(),
      (err: unknown) => subscriber.error(err),
    );
    return () => abort.abort();
  });
}

async function run(options: RerankerTrainingOptions, emit: (e: RerankerEvent) => void): Promise<void> {
  const o = { ...DEFAULTS, ...options };
  const t0 = performance.now();
  const { model, vocab, preprocess } = await loadCheckpoint(o.modelDir);
  try {
    if (!model.config.wordDetector) throw new RangeError(`${o.modelDir}: a learned re-ranker needs a model trained with a word detector (config.wordDetector)`);
    model.reranker = undefined;
    const split = (name: string, limit?: number) => o.dataset.images.filter((im) => im.split === name && im.captions.length > 0).slice(0, limit);
    const train = split('train', o.trainImages);
    const val = split('val', o.valImages);
    if (train.length === 0 || val.length === 0) throw new RangeError(`${o.dataset.name}: needs train and val images with captions (has ${train.length} and ${val.length})`);
    const openings = commonOpenings(train.flatMap((im) => im.captions), o.openings).filter((w) => w.every((x) => vocab.words.includes(x)));
    const pools = async (images: CaptionedImage[], name: 'train' | 'val') =>
      candidatePools(model, vocab, preprocess, images, { beamSize: o.beamSize, maxSteps: MAX_STEPS, openings, signal: o.signal, progress: (done) => emit({ kind: 'pools', split: name, done, images: images.length }) });
    const trainPools = await pools(train, 'train');
    const valPools = await pools(val, 'val');
    const inputs = featureCount(vocab.size, model.config.phrases?.length ?? 0);
    const { mean, std } = standardisation(trainPools, inputs);
    const net = new ListwiseNet(inputs, o.hidden, o.seed);
    try {
      // What the model chooses without it: the beam's best, the first candidate of every pool.
      const baselineBleu4 = corpusBleu(valPools.map((p) => p.words[0]!), valPools.map((p) => p.references)).bleu[3];
      let best = { bleu4: o.writeEvenIfWorse ? -Infinity : baselineBleu4, epoch: 0, weight: 1, weights: undefined as undefined | ReturnType<ListwiseNet['snapshot']> };
      const rng = createRng(o.seed);
      for (let epoch = 1; epoch <= o.epochs; epoch++) {
        o.signal?.throwIfAborted();
        const order = shuffle([...trainPools], rng);
        let loss = 0;
        let steps = 0;
        for (let i = 0; i < order.length; i += o.batchSize) {
          loss += net.step(order.slice(i, i + o.batchSize), mean, std, o.learningRate);
          steps++;
        }
        const scores = valPools.map((p) => net.scores(p, mean, std));
        const tried = o.logProbWeights.map((w) => ({ w, bleu4: chosenBleu4(valPools, (i, c) => scores[i]![c]!, w) }));
        const top = tried.reduce((a, b) => (b.bleu4 > a.bleu4 ? b : a));
        const better = top.bleu4 > best.bleu4;
        if (better) best = { bleu4: top.bleu4, epoch, weight: top.w, weights: net.snapshot() };
        emit({ kind: 'epoch', epoch, loss: loss / steps, valBleu4: top.bleu4, logProbWeight: top.w, best: better });
      }
      let written: string | undefined;
      if (best.weights) {
        const reranker: Reranker = {
          modelId: modelIdOf(model),
          inputs,
          hidden: o.hidden,
          mean,
          std,
          ...best.weights,
          logProbWeight: best.weight,
          openings,
          trained: {
            dataset: o.dataset.name,
            trainImages: trainPools.length,
            valImages: valPools.length,
            beamSize: o.beamSize,
            epochs: o.epochs,
            bestEpoch: best.epoch,
            valBleu4: best.bleu4,
            modelValBleu4: baselineBleu4,
            savedAt: new Date().toISOString(),
          },
        };
        written = await writeReranker(o.modelDir, reranker);
      }
      const candidates = trainPools.reduce((n, p) => n + p.rewards.length, 0) / trainPools.length;
      emit({ kind: 'done', written, baselineBleu4, bestBleu4: best.bleu4, bestEpoch: best.epoch, logProbWeight: best.weight, candidatesPerImage: candidates, minutes: (performance.now() - t0) / 60_000 });
    } finally {
      net.dispose();
    }
  } finally {
    model.dispose();
  }
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
  private optimizer: tf.AdamOptimizer | undefined;

  constructor(
    private readonly inputs: number,
    private readonly hidden: number,
    seed: number,
  ) {
    // tidy frees the initial values; the variables it returns are kept.
    [this.w1, this.b1, this.w2] = tf.tidy(() => [
      tf.variable(tf.randomNormal([inputs, hidden], 0, Math.sqrt(2 / inputs), 'float32', seed)),
      tf.variable(tf.zeros([hidden])),
      tf.variable(tf.randomNormal([hidden, 1], 0, Math.sqrt(1 / hidden), 'float32', seed + 1)),
    ]);
  }

  /** One step on a batch of pools; returns the mean listwise loss. */
  step(batch: readonly ImagePool[], mean: Float32Array, std: Float32Array, learningRate: number): number {
    this.optimizer ??= tf.train.adam(learningRate);
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
      return this.optimizer!.minimize(() => {
        const s = tf.add(tf.reshape(this.forward(xs), [batch.length, width]), m);
        return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(s)), 1))) as tf.Scalar;
      }, true, [this.w1, this.b1, this.w2])!;
    });
    const value = loss.dataSync()[0]!;
    loss.dispose();
    return value;
  }

  /** The network's score of each candidate of a pool. */
  scores(pool: ImagePool, mean: Float32Array, std: Float32Array): Float32Array {
    const x = new Float32Array(pool.features.length * this.inputs);
    pool.features.forEach((f, c) => {
      for (let d = 0; d < this.inputs; d++) x[c * this.inputs + d] = (f[d]! - mean[d]!) / std[d]!;
    });
    return tf.tidy(() => this.forward(tf.tensor2d(x, [pool.features.length, this.inputs])).dataSync() as Float32Array);
  }

  snapshot(): { w1: Float32Array; b1: Float32Array; w2: Float32Array } {
    return { w1: Float32Array.from(this.w1.dataSync()), b1: Float32Array.from(this.b1.dataSync()), w2: Float32Array.from(this.w2.dataSync()) };
  }

  dispose(): void {
    tf.dispose([this.w1, this.b1, this.w2]);
    this.optimizer?.dispose();
  }

  private forward(x: tf.Tensor2D): tf.Tensor1D {
    return tf.reshape(tf.matMul(tf.relu(tf.add(tf.matMul(x, this.w1), this.b1)), this.w2), [-1]) as tf.Tensor1D;
  }
}
