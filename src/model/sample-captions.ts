import * as tf from '@tensorflow/tfjs';
import type { Vocabulary } from '../data/vocabulary.js';
import { decoderStep, initialMemory, initialStatePerRow, keptContext, outputLogits, type AttentionMemory } from './decoder.js';
import type { ShowAttendTell } from './show-attend-tell.js';

/**
 * Captions drawn from the model word by word: sampled at a temperature, or greedy (temperature 0),
 * optionally after forced opening words. A beam returns only the model's likeliest captions; these
 * show what else it would say, e.g. how it goes on after "there are" when the beam never opens that way
 * (pipelines/bench/ranking-headroom.ts measures what such captions would be worth).
 */
export interface SampleOptions {
  /** Captions per image. */
  samples: number;
  /** Softmax temperature: 1 samples the model as it is, > 1 flattens it, 0 takes the likeliest word (greedy). */
  temperature: number;
  /** Words every caption starts with, forced before the model chooses (default none). */
  prefix?: readonly number[];
  /** Word cap; a caption that reaches it without <end> is returned without one. */
  maxSteps: number;
  /** Uniform [0, 1) draws: the same generator state gives the same captions. */
  rng: () => number;
  /** Also return each word's attention map (default false: reading them back costs a copy per step). */
  attention?: boolean;
}

/** One drawn caption: ids (words, then <end> if one was drawn) and its log-probability under the model (temperature 1). */
export interface SampledCaption {
  ids: number[];
  logProb: number;
  /** With SampleOptions.attention: one map (L values, sums to 1) per id, as Hypothesis.attention. */
  attention?: Float32Array[];
}

/**
 * `samples` captions for each of the B images whose annotations are `features` ([B, L, enc]), image-major:
 * result[i] holds image i's captions. Forced prefix words count in the log-probability like drawn ones.
 * Does not dispose `features`.
 */
export async function sampleCaptions(model: ShowAttendTell, features: tf.Tensor3D, vocab: Vocabulary, o: SampleOptions): Promise<SampledCaption[][]> {
  if (!(Number.isInteger(o.samples) && o.samples >= 1)) throw new RangeError(`sampleCaptions: samples must be an integer >= 1 (got ${o.samples})`);
  if (!(o.temperature >= 0)) throw new RangeError(`sampleCaptions: temperature must be >= 0 (got ${o.temperature})`);
  const cfg = model.config;
  const w = model.decoder;
  const [b, l, enc] = features.shape;
  if (enc !== cfg.encoderDim || l !== cfg.gridSize ** 2) throw new RangeError(`sampleCaptions: features are [${features.shape.join(', ')}], the model expects [B, ${cfg.gridSize ** 2}, ${cfg.encoderDim}]`);
  const outside = o.prefix?.find((id) => !(Number.isInteger(id) && id >= 0 && id < cfg.vocabSize));
  if (outside !== undefined) throw new RangeError(`sampleCaptions: prefix word id ${outside} is outside the vocabulary (size ${cfg.vocabSize})`);
  const k = o.samples;
  const rows = b * k;
  const v = cfg.vocabSize;
  const banned = [vocab.padId, ...vocab.startIds];
  const captions: SampledCaption[] = Array.from({ length: rows }, () => (o.attention ? { ids: [], logProb: 0, attention: [] } : { ids: [], logProb: 0 }));
  const done = new Array<boolean>(rows).fill(false);
  // As in beam search: large grids read the transposed annotations (attendPrecompute says when).
  // The decoder reads the annotations with their twin marks (ShowAttendTell.decoderAnnotations).
  const annotations = model.decoderAnnotations(features);
  const { att1, featuresT, tensors: ctx } = keptContext(w, annotations);
  let { h, c } = tf.tidy(() => initialStatePerRow(w, annotations, k, cfg.initState));
  let memory: AttentionMemory | undefined = initialMemory(w, rows, l);
  let words = new Int32Array(rows).fill(vocab.startId);
  try {
    for (let step = 0; step < o.maxSteps && done.some((d) => !d); step++) {
      const m = memory;
      const [logits, hNew, cNew, previous, coverage, alpha] = tf.tidy(() => {
        const emb = tf.gather(w.embedding, tf.tensor1d(words, 'int32')) as tf.Tensor2D;
        const out = decoderStep(w, { features: annotations, att1, featuresT }, emb, h, c, cfg.attentionActivation, k, m);
        // The memory's `previous` is alpha itself: a clone, so disposing the map leaves the memory whole.
        return [outputLogits(w, out.h, out.context, 0, false), out.h, out.c, out.memory?.previous, out.memory?.coverage, o.attention ? tf.clone(out.alpha) : undefined];
      });
      tf.dispose([h, c, memory?.previous, memory?.coverage]);
      h = hNew as tf.Tensor2D;
      c = cNew as tf.Tensor2D;
      memory = previous && coverage ? { previous: previous as tf.Tensor2D, coverage: coverage as tf.Tensor2D } : undefined;
      const z = (await logits.data()) as Float32Array;
      const maps = alpha ? ((await alpha.data()) as Float32Array) : undefined;
      tf.dispose([logits, alpha]);
      words = new Int32Array(rows).fill(vocab.padId);
      for (let r = 0; r < rows; r++) {
        if (done[r]) continue;
        const row = z.subarray(r * v, r * v + v);
        const word = o.prefix?.[step] ?? (o.temperature > 0 ? draw(softmax(row, o.temperature), o.rng(), banned) : argmax(row, banned));
        const caption = captions[r]!;
        caption.ids.push(word);
        caption.logProb += row[word]! - logSumExp(row);
        caption.attention?.push(maps!.slice(r * l, r * l + l));
        words[r] = word;
        if (word === vocab.endId) done[r] = true;
      }
    }
  } finally {
    tf.dispose([...ctx, ...(annotations === features ? [] : [annotations]), h, c, memory?.previous, memory?.coverage]);
  }
  return Array.from({ length: b }, (_, i) => captions.slice(i * k, i * k + k));
}

function logSumExp(z: Float32Array): number {
  let max = -Infinity;
  for (const x of z) max = Math.max(max, x);
  let sum = 0;
  for (const x of z) sum += Math.exp(x - max);
  return max + Math.log(sum);
}

/** softmax(z / temperature). */
export function softmax(z: Float32Array, temperature: number): Float32Array {
  const lse = logSumExp(z.map((x) => x / temperature));
  return z.map((x) => Math.exp(x / temperature - lse));
}

/** The index u falls on in the cumulative distribution p, with the `banned` words' mass left out. */
export function draw(p: Float32Array, u: number, banned: readonly number[]): number {
  let total = 0;
  for (let j = 0; j < p.length; j++) if (!banned.includes(j)) total += p[j]!;
  let acc = 0;
  let last = -1;
  for (let j = 0; j < p.length; j++) {
    if (banned.includes(j)) continue;
    acc += p[j]! / total;
    last = j;
    if (u < acc) return j;
  }
  return last;
}

/** The index of the largest p (or logit) that is not banned. */
export function argmax(p: Float32Array, banned: readonly number[]): number {
  let best = -1;
  for (let j = 0; j < p.length; j++) if (!banned.includes(j) && (best < 0 || p[j]! > p[best]!)) best = j;
  return best;
}
