import * as tf from '@tensorflow/tfjs';
import { adaptiveAvgPoolToGrid } from './adaptive-pool.js';
import type { NamedVariable } from './named-variable.js';
import { uniformArray } from './random.js';

/**
 * 2x2 stride-2 average pooling whose gradient is a nearest-neighbour upsample of dy times 1/4: exact,
 * and several times faster than the wasm AvgPoolGrad kernel. Odd trailing rows/columns are dropped
 * ('valid'), and get zero gradient.
 */
export const avgPool2x2 = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x4 = args[0] as tf.Tensor4D;
  (args[1] as tf.GradSaveFunc)([x4]);
  return {
    value: tf.avgPool(x4, 2, 2, 'valid'),
    gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
      const [, h, w] = saved[0]!.shape as [number, number, number, number];
      const [, ph, pw] = dy.shape as [number, number, number, number];
      const up = tf.mul(tf.image.resizeNearestNeighbor(dy, [ph * 2, pw * 2]), 0.25);
      return h === ph * 2 && w === pw * 2 ? up : tf.pad(up, [[0, 0], [0, h - ph * 2], [0, w - pw * 2], [0, 0]]);
    },
  };
}) as (x: tf.Tensor4D) => tf.Tensor4D;

/**
 * The compact CNN encoder: 3x3 conv + ReLU blocks, every block after the first preceded by 2x2
 * average pooling (max pooling's gradient is slow and wrong on wasm for all-negative windows),
 * then adaptive average pooling to the attention grid. Trained from scratch with the model.
 */
export class CompactCnnEncoder {
  readonly variables: NamedVariable[];
  private readonly kernels: tf.Variable[] = [];
  private readonly biases: tf.Variable[] = [];

  constructor(
    channels: number[],
    private readonly gridSize: number,
    prefix: string,
    rng: () => number,
  ) {
    this.variables = [];
    let inC = 3;
    channels.forEach((outC, i) => {
      // He-uniform: the layers are ReLU and trained from scratch.
      const bound = Math.sqrt(6 / (9 * inC));
      const k = tf.variable(tf.tensor4d(uniformArray(rng, 9 * inC * outC, -bound, bound), [3, 3, inC, outC]), true, `${prefix}/encoder/conv${i}/kernel`);
      const b = tf.variable(tf.zeros([outC]), true, `${prefix}/encoder/conv${i}/bias`);
      this.kernels.push(k);
      this.biases.push(b);
      this.variables.push({ name: `encoder/conv${i}/kernel`, variable: k }, { name: `encoder/conv${i}/bias`, variable: b });
      inC = outC;
    });
  }

  /** images [B, S, S, 3] -> annotations [B, grid*grid, C]. Caller owns the result. */
  encode(images: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      let x: tf.Tensor4D = images;
      this.kernels.forEach((k, i) => {
        if (i > 0) x = avgPool2x2(x);
        x = tf.relu(tf.add(tf.conv2d(x, k as tf.Tensor4D, 1, 'same'), this.biases[i]!)) as tf.Tensor4D;
      });
      return adaptiveAvgPoolToGrid(x, this.gridSize);
    });
  }

  dispose(): void {
    for (const v of this.variables) v.variable.dispose();
  }
}
