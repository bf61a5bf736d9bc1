import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { ShowAttendTell, defaultModelConfig } from '../../src/model/index.js';

// The compact-CNN options the default model uses: 1x1 blocks (small receptive field per grid cell)
// and coordinate channels appended to the annotations.
describe('compact CNN encoder options', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('appends each cell centre (x, y) in [-1, 1] after the conv channels; encoderDim counts them', () => {
    const config = defaultModelConfig({ vocabSize: 10, gridSize: 4, encoder: { kind: 'compact-cnn', channels: [4, 6], kernelSizes: [3, 1], coordChannels: true } });
    expect(config.encoderDim).toBe(8);
    const model = ShowAttendTell.create(config, { seed: 3 });
    const before = tf.memory().numTensors;
    const images = tf.randomNormal([2, 16, 16, 3]) as tf.Tensor4D;
    const out = model.encode(images);
    expect(out.shape).toEqual([2, 16, 8]);
    const v = out.arraySync();
    // Cell (row 0, col 0) and (row 3, col 1) of the second image.
    expect(v[1]![0]!.slice(6)).toEqual([-0.75, -0.75]);
    expect(v[1]![13]!.slice(6)).toEqual([-0.25, 0.75]);
    tf.dispose([images, out]);
    expect(tf.memory().numTensors).toBe(before);
    expect(model.encoderVariables().find((w) => w.name === 'encoder/conv1/kernel')!.variable.shape).toEqual([1, 1, 4, 6]);
    model.dispose();
  });

  it('keeps the old meaning when the options are absent, and rejects bad ones naming the field', () => {
    expect(defaultModelConfig({ vocabSize: 10 }).encoderDim).toBe(128);
    expect(() => defaultModelConfig({ vocabSize: 10, encoder: { kind: 'compact-cnn', channels: [4, 6], kernelSizes: [3] } })).toThrow(/kernelSizes/);
    expect(() => defaultModelConfig({ vocabSize: 10, encoder: { kind: 'compact-cnn', channels: [4, 6], kernelSizes: [3, 2] } })).toThrow(/kernelSizes/);
    expect(() => defaultModelConfig({ vocabSize: 10, encoderDim: 6, encoder: { kind: 'compact-cnn', channels: [4, 6], coordChannels: true } })).toThrow(/plus 2 coordinate channels/);
  });
});
