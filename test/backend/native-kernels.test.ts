import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { SUITE_BACKEND, SUITE_TF_BACKEND } from '../fixtures/suite-backend.js';

describe.skipIf(SUITE_TF_BACKEND !== 'tensorflow')('native kernels: ReLU gradient as TensorFlow ReluGrad', () => {
  beforeAll(async () => {
    await initBackend(SUITE_BACKEND);
  });

  it('passes dy where x > 0 and 0 elsewhere (NaN included, as PyTorch), in one native kernel', async () => {
    const xs = [-2, -0.5, 0, 0.25, 3, NaN, -1e-30, 1e-30];
    const dys = [1, 2, 3, 4, 5, 6, 7, 8];
    const before = tf.memory().numTensors;
    const x = tf.tensor2d(xs, [2, 4]);
    const dy = tf.tensor2d(dys, [2, 4]);
    const grad = tf.grad((t: tf.Tensor) => tf.relu(t));
    let g: tf.Tensor | undefined;
    const profile = await tf.profile(() => {
      g = grad(x, dy);
      return g;
    });
    expect(Array.from(await g!.data())).toEqual([0, 0, 0, 4, 5, 0, 0, 8]);
    expect(profile.kernelNames).toContain('CaptionerNativeReluGrad');
    expect(profile.kernelNames).not.toContain('Step');
    tf.dispose([x, dy, g!]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('matches the mask formula on a large attention-shaped tensor, inside a training-style gradient', () => {
    const x = tf.randomNormal([4, 1, 49, 64], 0, 1, 'float32', 7);
    const w = tf.randomNormal([64, 1], 0, 1, 'float32', 8);
    const loss = (t: tf.Tensor) => tf.sum(tf.matMul(tf.reshape(tf.relu(t), [-1, 64]), w as tf.Tensor2D));
    const g = tf.grad(loss)(x);
    const expected = tf.tidy(() => tf.mul(tf.cast(tf.greater(x, 0), 'float32'), tf.reshape(tf.tile(tf.reshape(w, [1, 64]), [4 * 49, 1]), x.shape)));
    expect(tf.max(tf.abs(tf.sub(g, expected))).dataSync()[0]).toBe(0);
    tf.dispose([x, w, g, expected]);
  });
});
