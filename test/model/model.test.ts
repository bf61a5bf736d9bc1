import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { attendPrecompute, decoderStep, initialState } from '../../src/model/decoder.js';
import { adaptiveAvgPoolToGrid } from '../../src/model/adaptive-pool.js';
import { avgPool2x2 } from '../../src/model/compact-cnn.js';
import { ShowAttendTell, defaultModelConfig, referenceModelConfig, validateModelConfig, type ModelConfig } from '../../src/model/index.js';
import { noise } from './helpers.js';

beforeAll(async () => {
  await initBackend();
});

describe('model config', () => {
  it('defaults to an 8x8 grid of 128-d annotations from the compact CNN', () => {
    const c = defaultModelConfig({ vocabSize: 20 });
    expect(c.encoder).toEqual({ kind: 'compact-cnn', channels: [32, 64, 128, 128] });
    expect([c.gridSize, c.encoderDim, c.attentionDim, c.decoderDim, c.dropout, c.attentionActivation]).toEqual([8, 128, 128, 256, 0.5, 'relu']);
  });

  it('has the reference decoder sizes on precomputed 2048-d 14x14 features', () => {
    const c = referenceModelConfig(9490);
    expect([c.encoder.kind, c.gridSize, c.encoderDim, c.attentionDim, c.embedDim, c.decoderDim, c.vocabSize]).toEqual(['precomputed', 14, 2048, 512, 512, 512, 9490]);
  });

  it('names the bad field', () => {
    expect(() => defaultModelConfig({ vocabSize: 3 })).toThrow(/vocabSize/);
    expect(() => defaultModelConfig({ vocabSize: 20, dropout: 1 })).toThrow(/dropout/);
    expect(() => defaultModelConfig({ vocabSize: 20, encoderDim: 64 })).toThrow(/encoderDim \(64\) must equal the last encoder channel count/);
    expect(() => validateModelConfig({ ...defaultModelConfig({ vocabSize: 20 }), formatVersion: 2 as 1 })).toThrow(/another version/);
  });
});

describe('adaptive average pooling', () => {
  it('matches PyTorch windows (overlapping when the size is not a multiple)', () => {
    // 3x3 input to a 2x2 grid: windows [0,2) and [1,3) on both axes.
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const y = adaptiveAvgPoolToGrid(x, 2);
    expect(Array.from(y.dataSync())).toEqual([3, 4, 6, 7]);
    tf.dispose([x, y]);
  });
});

describe('2x2 average pooling', () => {
  it('has the same value and gradient as tf.avgPool, also for odd sizes', () => {
    for (const shape of [[2, 6, 4, 3], [1, 5, 7, 2]] as [number, number, number, number][]) {
      const [mine, theirs] = tf.tidy(() => {
        const x = tf.tensor4d(noise(shape.reduce((a, b) => a * b), 3), shape);
        const weights = tf.tensor4d(noise(shape[0] * Math.floor(shape[1] / 2) * Math.floor(shape[2] / 2) * shape[3], 4), [shape[0], Math.floor(shape[1] / 2), Math.floor(shape[2] / 2), shape[3]]);
        const f = (pool: (t: tf.Tensor4D) => tf.Tensor4D) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(pool(t as tf.Tensor4D), weights)))(x);
        return [tf.concat([tf.reshape(avgPool2x2(x), [-1]), tf.reshape(f(avgPool2x2), [-1])]), tf.concat([tf.reshape(tf.avgPool(x, 2, 2, 'valid'), [-1]), tf.reshape(f((t) => tf.avgPool(t, 2, 2, 'valid')), [-1])])];
      });
      const a = mine!.dataSync();
      const b = theirs!.dataSync();
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 5);
      tf.dispose([mine!, theirs!]);
    }
  });
});

describe('ShowAttendTell', () => {
  it('leaves no tensor behind after create and dispose (initial values are not kept)', () => {
    const before = tf.memory().numTensors;
    const config = defaultModelConfig({ vocabSize: 20, encoder: { kind: 'compact-cnn', channels: [8, 16], coordChannels: true }, encoderDim: 18 });
    ShowAttendTell.create(config, { seed: 1 }).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('encodes [B, 64, 64, 3] to [B, 64, 128] without leaking', () => {
    const m = ShowAttendTell.create(defaultModelConfig({ vocabSize: 20 }), { seed: 1 });
    const images = tf.tensor4d(noise(2 * 64 * 64 * 3, 1), [2, 64, 64, 3]);
    const before = tf.memory().numTensors;
    const f = m.encode(images);
    expect(f.shape).toEqual([2, 64, 128]);
    f.dispose();
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    m.dispose();
  });

  it('is deterministic for a seed', () => {
    const a = ShowAttendTell.create(defaultModelConfig({ vocabSize: 20 }), { seed: 7 });
    const b = ShowAttendTell.create(defaultModelConfig({ vocabSize: 20 }), { seed: 7 });
    const wa = a.namedWeights().map((n) => n.variable.dataSync()[3]);
    const wb = b.namedWeights().map((n) => n.variable.dataSync()[3]);
    expect(wa).toEqual(wb);
    expect(a.namedWeights().map((n) => n.name)).toContain('decoder/fc_kernel');
    a.dispose();
    b.dispose();
  });

  it('initialises embedding and fc in U(-0.1, 0.1) with fc bias 0', () => {
    const m = ShowAttendTell.create(defaultModelConfig({ vocabSize: 20 }), { seed: 2 });
    const emb = m.decoder.embedding.dataSync();
    const fc = m.decoder.fcKernel.dataSync();
    expect(Math.max(...Array.from(emb).map(Math.abs))).toBeLessThanOrEqual(0.1);
    expect(Math.max(...Array.from(fc).map(Math.abs))).toBeGreaterThan(0.09);
    expect(Array.from(m.decoder.fcBias.dataSync()).every((v) => v === 0)).toBe(true);
    m.dispose();
  });

  it('steps the decoder with attention maps that sum to 1 over locations, for tanh and relu', () => {
    for (const act of ['relu', 'tanh'] as const) {
      const m = ShowAttendTell.create(defaultModelConfig({ vocabSize: 20, attentionActivation: act }), { seed: 3 });
      const out = tf.tidy(() => {
        const feats = tf.tensor3d(noise(3 * 64 * 128, 5), [3, 64, 128]);
        const ctx = attendPrecompute(m.decoder, feats);
        const s = initialState(m.decoder, feats);
        const emb = tf.gather(m.decoder.embedding, tf.tensor1d([1, 2, 3], 'int32')) as tf.Tensor2D;
        const o = decoderStep(m.decoder, ctx, emb, s.h, s.c, act);
        return [o.h, o.c, o.alpha, tf.sum(o.alpha, 1)];
      });
      expect(out[0]!.shape).toEqual([3, 256]);
      expect(out[2]!.shape).toEqual([3, 64]);
      for (const v of out[3]!.dataSync()) expect(v).toBeCloseTo(1, 5);
      tf.dispose(out);
      m.dispose();
    }
  });

  it('supports per-block kernel sizes and appended cell-centre coordinates (optional encoder fields)', () => {
    // Absent, these fields mean 3x3 everywhere and no coordinates (the other tests).
    const encoder: ModelConfig['encoder'] = { kind: 'compact-cnn', channels: [4, 6], kernelSizes: [3, 1], coordChannels: true };
    const config = defaultModelConfig({ vocabSize: 20, gridSize: 2, encoder });
    expect(config.encoderDim).toBe(8);
    const m = ShowAttendTell.create(config, { seed: 1 });
    expect(m.encoderVariables().map((v) => v.variable.shape)).toEqual([[3, 3, 3, 4], [4], [1, 1, 4, 6], [6]]);
    const images = tf.tensor4d(noise(8 * 8 * 3, 2), [1, 8, 8, 3]);
    const f = m.encode(images);
    const v = f.arraySync()[0]!;
    expect(v.map((cell) => cell.slice(6))).toEqual([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]]);
    tf.dispose([images, f]);
    m.dispose();
    const bad: ModelConfig['encoder'] = { kind: 'compact-cnn', channels: [4, 6], kernelSizes: [3, 2] };
    expect(() => defaultModelConfig({ vocabSize: 20, encoder: bad })).toThrow(/kernelSizes must list one odd/);
  });

  it("'precomputed' encode is the identity on features", () => {
    const m = ShowAttendTell.create(defaultModelConfig({ vocabSize: 20, encoder: { kind: 'precomputed' }, encoderDim: 16, gridSize: 2 }));
    const f = tf.tensor3d(noise(2 * 4 * 16, 9), [2, 4, 16]);
    const g = m.encode(f as unknown as tf.Tensor4D);
    expect(Array.from(g.dataSync())).toEqual(Array.from(f.dataSync()));
    tf.dispose([f, g]);
    m.dispose();
  });
});
