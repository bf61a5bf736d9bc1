import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { ShowAttendTell, Trainer, defaultModelConfig, prepareTargets } from '../../src/model/index.js';
import { attentionGuidanceLoss, detectorLogits } from '../../src/model/loss.js';
import { noise, tinyVocab } from './helpers.js';

beforeAll(async () => {
  await initBackend('cpu');
});

const vocab = tinyVocab();
const L = 4;
const targets = () => {
  const e1 = vocab.encode(['a', 'red', 'circle'], 4);
  const e2 = vocab.encode(['blue', 'blue'], 4);
  return prepareTargets({ batchSize: 2, captions: Int32Array.from([...e1.ids, ...e2.ids]), lengths: Int32Array.from([e1.length, e2.length]) });
};
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Random attention maps [steps, B, L], each row a softmax of noise. */
function randomAlphas(steps: number, b: number, seed: number): tf.Tensor3D {
  return tf.tidy(() => tf.softmax(tf.tensor3d(noise(steps * b * L, seed), [steps, b, L]).mul(3)) as tf.Tensor3D);
}

describe('detector-guided attention loss', () => {
  /** The loss by hand: per real step, KL(q || alpha) x (1 - H(q) / log L) with q proportional to sigmoid(z)^k. */
  function handLoss(zData: Float32Array, a: Float32Array, p: ReturnType<typeof targets>, k: number): number {
    const v = vocab.size;
    let sum = 0;
    for (let t = 0; t < p.steps; t++) {
      for (let b = 0; b < 2; b++) {
        if (!p.mask[t * 2 + b]) continue;
        const word = p.outputs[t * 2 + b]!;
        const raw = [...Array(L).keys()].map((cell) => sigmoid(zData[(b * L + cell) * v + word]!) ** k);
        const total = raw.reduce((x, y) => x + y, 0);
        const q = raw.map((r) => r / total);
        const entropy = -q.reduce((s, x) => s + x * Math.log(x), 0);
        const kl = q.reduce((s, x, cell) => s + x * (Math.log(x) - Math.log(a[(t * 2 + b) * L + cell]!)), 0);
        sum += kl * (1 - entropy / Math.log(L));
      }
    }
    return sum / p.tokens;
  }

  it.each([1, 3])('is the teacher-peakedness-weighted KL(teacher || attention) over real steps, as computed by hand (sharpness %i)', (k) => {
    const p = targets();
    const v = vocab.size;
    const zData = noise(2 * L * v, 5).map((x) => x * 4);
    const z = tf.tensor3d(zData, [2, L, v]);
    const alphas = randomAlphas(p.steps, 2, 9);
    const loss = tf.tidy(() => attentionGuidanceLoss(z, alphas, p, k).dataSync()[0]!);
    expect(loss).toBeCloseTo(handLoss(zData, alphas.dataSync() as Float32Array, p, k), 4);
    tf.dispose([z, alphas]);
  });

  it('with sharpness > 1 teaches the peak cell, not the cells beside it', () => {
    // One image, every word lit strongly on cell 0 and half as strongly on cell 1 (an object and its
    // neighbour). Attention on cell 0 alone should beat attention split between the two, more so sharper.
    const p = targets();
    const v = vocab.size;
    const logit = (x: number): number => Math.log(x / (1 - x));
    const zData = new Float32Array(2 * L * v).fill(logit(0.02));
    for (let b = 0; b < 2; b++) for (let w = 0; w < v; w++) { zData[(b * L) * v + w] = logit(0.9); zData[(b * L + 1) * v + w] = logit(0.5); }
    const z = tf.tensor3d(zData, [2, L, v]);
    const map = (m: number[]) => tf.tile(tf.tensor3d(m, [1, 1, L]), [p.steps, 2, 1]) as tf.Tensor3D;
    const onPeak = map([0.94, 0.04, 0.01, 0.01]);
    const split = map([0.6, 0.38, 0.01, 0.01]);
    const prefersPeak = (k: number): number => tf.tidy(() => attentionGuidanceLoss(z, split, p, k).sub(attentionGuidanceLoss(z, onPeak, p, k)).dataSync()[0]!);
    expect(prefersPeak(1)).toBeLessThan(0); // the plain teacher (0.9 : 0.5) prefers the split map
    expect(prefersPeak(3)).toBeGreaterThan(0);
    expect(() => attentionGuidanceLoss(z, split, p, 0.5)).toThrow(/sharpness must be >= 1/);
    tf.dispose([z, onPeak, split]);
  });

  it('is zero when attention equals the teacher, and when the teacher is flat', () => {
    const p = targets();
    const v = vocab.size;
    const z = tf.tensor3d(noise(2 * L * v, 6).map((x) => x * 4), [2, L, v]);
    // The teacher itself as the attention: q_t for each step's target word.
    const teacher = tf.tidy(() => {
      const cells = tf.transpose(tf.sigmoid(z), [0, 2, 1]);
      const oneHot = tf.transpose(tf.reshape(tf.oneHot(tf.tensor1d(p.outputs, 'int32'), v).toFloat(), [p.steps, 2, v]), [1, 0, 2]);
      const raw = tf.transpose(tf.matMul(oneHot as tf.Tensor3D, cells as tf.Tensor3D), [1, 0, 2]);
      return tf.div(raw, tf.sum(raw, 2, true)) as tf.Tensor3D;
    });
    expect(tf.tidy(() => attentionGuidanceLoss(z, teacher, p).dataSync()[0]!)).toBeCloseTo(0, 5);
    // Every cell scores every word alike: a teacher that knows nowhere pulls nowhere.
    const flat = tf.tidy(() => tf.tile(tf.tensor3d(noise(2 * v, 8), [2, 1, v]), [1, L, 1]) as tf.Tensor3D);
    const alphas = randomAlphas(p.steps, 2, 10);
    expect(tf.tidy(() => attentionGuidanceLoss(flat, alphas, p).dataSync()[0]!)).toBeCloseTo(0, 5);
    tf.dispose([z, teacher, flat, alphas]);
  });

  it.each([1, 3])('moves the attention and never the teacher: no gradient reaches the detector or the features (sharpness %i)', (k) => {
    const config = defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'precomputed' }, gridSize: 2, encoderDim: 3, attentionDim: 4, embedDim: 4, decoderDim: 5, wordDetector: true });
    const model = ShowAttendTell.create(config, { seed: 3 });
    const p = targets();
    const features = tf.variable(tf.tensor3d(noise(2 * L * 3, 7), [2, L, 3]));
    const logits = tf.variable(tf.tensor3d(noise(p.steps * 2 * L, 11), [p.steps, 2, L]));
    const w = model.decoder;
    const { value, grads } = tf.variableGrads(
      () => attentionGuidanceLoss(detectorLogits(model, features), tf.softmax(logits) as tf.Tensor3D, p, k),
      [w.detectorKernel!, w.detectorBias!, features, logits] as tf.Variable[],
    );
    expect(value.dataSync()[0]!).toBeGreaterThan(0);
    const maxAbs = (t: tf.Tensor): number => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]!);
    expect(maxAbs(grads[w.detectorKernel!.name]!)).toBe(0);
    expect(maxAbs(grads[w.detectorBias!.name]!)).toBe(0);
    expect(maxAbs(grads[features.name]!)).toBe(0);
    expect(maxAbs(grads[logits.name]!)).toBeGreaterThan(1e-4);
    tf.dispose([value, features, logits, ...Object.values(grads)]);
    model.dispose();
  });

  it('needs a trained detector: the trainer refuses guidance without word detection, negative weights and sharpness below 1', () => {
    const config = defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'precomputed' }, gridSize: 2, encoderDim: 3, wordDetector: true });
    const model = ShowAttendTell.create(config, { seed: 3 });
    const options = { decoderLr: 1e-3, encoderLr: 1e-3, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1 };
    expect(() => new Trainer(model, { ...options, attentionGuidance: 1 })).toThrow(/attentionGuidance needs wordDetection > 0/);
    expect(() => new Trainer(model, { ...options, wordDetection: 1, attentionGuidance: -1 })).toThrow(/attentionGuidance must be a number >= 0/);
    expect(() => new Trainer(model, { ...options, wordDetection: 1, attentionGuidance: 1, guidanceSharpness: 0.5 })).toThrow(/guidanceSharpness must be a number >= 1/);
    expect(() => new Trainer(model, { ...options, wordDetection: 1, attentionGuidance: 1 })).not.toThrow();
    model.dispose();
  });
});
