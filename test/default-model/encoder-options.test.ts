import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { ShowAttendTell, defaultModelConfig } from '../../src/model/index.js';

// The compact-CNN options the default model uses: 1x1 blocks (small receptive field per grid cell)
// and coordinate channels appended to the annotations.
describe('compact CNN encoder options', () => {
  beforeAll(async () => {
    await initBackend();
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

  it('appends a context branch that sees two cells further than the cell itself, between the conv and the coordinate channels', () => {
    // 1x1 blocks only: a cell's own channels see its 4x4 pixels; the 3x3 context conv over the grid adds one cell each side.
    const config = defaultModelConfig({ vocabSize: 10, gridSize: 4, encoder: { kind: 'compact-cnn', channels: [4, 6], kernelSizes: [1, 1], contextChannels: 5, coordChannels: true } });
    expect(config.encoderDim).toBe(6 + 5 + 2);
    const model = ShowAttendTell.create(config, { seed: 3 });
    const before = tf.memory().numTensors;
    const base = tf.randomNormal([1, 8, 8, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    // Change one pixel of cell (row 0, col 2) only.
    const bumped = tf.tidy(() => tf.add(base, tf.scatterND([[0, 0, 4, 0]], [50], [1, 8, 8, 3]))) as tf.Tensor4D;
    const outs = [model.encode(base), model.encode(bumped)];
    const [a, b] = outs.map((o) => o.arraySync()) as [number[][][], number[][][]];
    const changed = (cell: number, from: number, to: number) => a[0]![cell]!.slice(from, to).some((x, i) => Math.abs(x - b[0]![cell]![from + i]!) > 1e-6);
    expect(changed(2, 0, 6)).toBe(true); // the cell itself
    expect(changed(1, 0, 6)).toBe(false); // its neighbour's own channels do not see it...
    expect(changed(1, 6, 11)).toBe(true); // ...but the neighbour's context does
    expect(changed(0, 6, 11)).toBe(false); // two cells away: out of the context's reach
    expect(a[0]![15]!.slice(11)).toEqual([0.75, 0.75]);
    tf.dispose([base, bumped, ...outs]);
    expect(tf.memory().numTensors).toBe(before);
    expect(model.encoderVariables().find((w) => w.name === 'encoder/context/kernel')!.variable.shape).toEqual([3, 3, 6, 5]);
    model.dispose();
    expect(() => defaultModelConfig({ vocabSize: 10, encoder: { kind: 'compact-cnn', channels: [4, 6], contextChannels: -1 } })).toThrow(/contextChannels/);
  });

  it('keeps the old meaning when the options are absent, and rejects bad ones naming the field', () => {
    expect(defaultModelConfig({ vocabSize: 10 }).encoderDim).toBe(128);
    expect(() => defaultModelConfig({ vocabSize: 10, encoder: { kind: 'compact-cnn', channels: [4, 6], kernelSizes: [3] } })).toThrow(/kernelSizes/);
    expect(() => defaultModelConfig({ vocabSize: 10, encoder: { kind: 'compact-cnn', channels: [4, 6], kernelSizes: [3, 2] } })).toThrow(/kernelSizes/);
    expect(() => defaultModelConfig({ vocabSize: 10, encoderDim: 6, encoder: { kind: 'compact-cnn', channels: [4, 6], coordChannels: true } })).toThrow(/plus 2 coordinate channels/);
  });
});
