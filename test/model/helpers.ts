import * as tf from '@tensorflow/tfjs';
import type { TrainBatch } from '../../src/data/types.js';
import { attendPrecompute, decoderStep, initialMemory, initialState, outputLogits } from '../../src/model/decoder.js';
import { ShowAttendTell, defaultModelConfig } from '../../src/model/index.js';
import { Vocabulary } from '../../src/data/vocabulary.js';

/** A vocabulary of a few colour/shape words (every word kept: each appears 6 times). */
export function tinyVocab(): Vocabulary {
  const words = ['a', 'red', 'green', 'blue', 'yellow', 'circle', 'square'];
  return Vocabulary.build(words.map((w) => Array<string>(6).fill(w)));
}

/** Deterministic pseudo-random floats in [-1, 1). */
export function noise(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/** Four fixed captions (one of one word, one with a repeated word) over noise images of side S, seeded. */
export function noiseBatch(seed: number): TrainBatch {
  const vocab = TOY_VOCAB;
  const captions: number[] = [];
  const lengths: number[] = [];
  for (const words of [['a', 'red', 'square'], ['blue', 'circle'], ['a'], ['green', 'green', 'square']]) {
    const e = vocab.encode(words, 3);
    captions.push(...e.ids);
    lengths.push(e.length);
  }
  return { batchSize: 4, imageSize: S, maxLen: 3, images: noise(4 * S * S * 3, seed), captions: Int32Array.from(captions), lengths: Int32Array.from(lengths), ids: [] };
}

const TOY_VOCAB = tinyVocab();
const COLOURS: Record<string, [number, number, number]> = { red: [1, 0, 0], green: [0, 1, 0], blue: [0, 0, 1], yellow: [1, 1, 0] };
const NAMES = Object.keys(COLOURS);
export const S = 16;

/** Toy task: random noise images whose top-left quadrant is filled with one of four colours; caption "a <colour> square". */
export function toyBatch(b: number, rng: () => number): TrainBatch & { colours: string[] } {
  const maxLen = 3;
  const images = new Float32Array(b * S * S * 3);
  const captions = new Int32Array(b * (maxLen + 2));
  const lengths = new Int32Array(b);
  const colours: string[] = [];
  for (let i = 0; i < b; i++) {
    const name = NAMES[Math.floor(rng() * NAMES.length)]!;
    colours.push(name);
    const rgb = COLOURS[name]!;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        for (let ch = 0; ch < 3; ch++) {
          images[((i * S + y) * S + x) * 3 + ch] = y < S / 2 && x < S / 2 ? rgb[ch]! * 2 - 1 : rng() * 2 - 1;
        }
      }
    }
    const enc = TOY_VOCAB.encode(['a', name, 'square'], maxLen);
    captions.set(enc.ids, i * (maxLen + 2));
    lengths[i] = enc.length;
  }
  return { batchSize: b, imageSize: S, maxLen, images, captions, lengths, ids: [], colours };
}

/**
 * Stronger fc weights and a raised <end> bias on an untrained model: beam search on noise features
 * then gives images different captions, some finished, some not.
 */
export function makeBeamsDiverse(model: ShowAttendTell, vocab: Vocabulary): void {
  tf.tidy(() => {
    model.decoder.fcKernel.assign(tf.mul(model.decoder.fcKernel, 20));
    const bias = model.decoder.fcBias.arraySync() as number[];
    bias[vocab.endId] = 1;
    model.decoder.fcBias.assign(tf.tensor1d(bias));
  });
}

/** Sets fc to a state-independent distribution over words (logits = bias). */
export function fixedDistribution(m: ShowAttendTell, logits: Map<number, number>): void {
  tf.tidy(() => {
    m.decoder.fcKernel.assign(tf.zerosLike(m.decoder.fcKernel));
    const bias = new Float32Array(m.config.vocabSize).fill(-20);
    for (const [id, l] of logits) bias[id] = l;
    m.decoder.fcBias.assign(tf.tensor1d(bias));
  });
}

/**
 * The decoding fixture of the search tests: a small model on precomputed 4x4 annotations whose
 * captions differ between the five noise images and sometimes end, sometimes not.
 */
export function decodingFixture(vocab: Vocabulary): { model: ShowAttendTell; feats: tf.Tensor3D } {
  const model = ShowAttendTell.create(defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'precomputed' }, encoderDim: 32, gridSize: 4, attentionDim: 16, embedDim: 16, decoderDim: 32 }), { seed: 11 });
  makeBeamsDiverse(model, vocab);
  const feats = tf.tidy(() => tf.mul(tf.tensor3d(noise(5 * 16 * 32, 4), [5, 16, 32]), 8) as tf.Tensor3D);
  return { model, feats };
}

/**
 * Decoding written independently of beamSearch and sampleCaptions, one image at a time: the `forced`
 * ids while there are any (a prefix, or a whole hypothesis to rescore), then the argmax of each step
 * (never <pad> or <start>, as sampling and the captioning hooks, unless banSpecial is false, as the
 * bare search), until <end> or maxSteps. Call inside tf.tidy.
 */
export function referenceDecode(m: ShowAttendTell, f: tf.Tensor3D, v: Vocabulary, maxSteps: number, forced: readonly number[] = [], banSpecial = true): { ids: number[]; logProb: number } {
  const ids: number[] = [];
  let logProb = 0;
  const w = m.decoder;
  const ctx = attendPrecompute(w, f);
  let { h, c } = initialState(w, f);
  let memory = initialMemory(w, 1, f.shape[1]);
  let word = v.startId;
  for (let t = 0; t < maxSteps; t++) {
    const out = decoderStep(w, ctx, tf.gather(w.embedding, tf.tensor1d([word], 'int32')) as tf.Tensor2D, h, c, m.config.attentionActivation, 1, memory);
    ({ h, c, memory } = out);
    const logp = tf.logSoftmax(outputLogits(w, h, out.context, 0, false)).dataSync();
    const allowed = logp.map((x, id) => (banSpecial && (id === v.padId || id === v.startId) ? -Infinity : x));
    word = forced[t] ?? allowed.indexOf(Math.max(...allowed));
    logProb += logp[word]!;
    ids.push(word);
    if (word === v.endId) break;
  }
  return { ids, logProb };
}

/** A copy of `model` with attention memory, its output layer, and a memory strong enough to change the words. */
export function withStrongMemory(model: ShowAttendTell): ShowAttendTell {
  const mem = ShowAttendTell.create({ ...model.config, attentionMemory: true }, { seed: 11 });
  tf.tidy(() => {
    for (const key of ['fcKernel', 'fcBias'] as const) mem.decoder[key].assign(model.decoder[key]);
    mem.decoder.memoryAttKernel!.assign(tf.mul(mem.decoder.memoryAttKernel!, 40));
  });
  return mem;
}
