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
 * Options of the compact CNN. kernelSizes and coordChannels are optional extensions read from the
 * encoder config when present (absent: 3x3 everywhere, no coordinates, as before).
 */
export interface CompactCnnOptions {
  channels: number[];
  /** Odd kernel size per block (default 3 for every block). */
  kernelSizes?: number[];
  /** Append each grid cell's centre (x, y) in [-1, 1] to its annotation (2 extra channels). */
  coordChannels?: boolean;
  /**
   * Width of a context branch: a 3x3 conv + ReLU over the final grid whose output is appended beside
   * each cell's own features (absent or 0: none). The cell keeps its small receptive field, for
   * attention that peaks on small objects, and gains one two cells (16 px at 8x8) wider, which sees a
   * large object's outline from its centre.
   */
  contextChannels?: number;
}

/** The annotation width the compact CNN produces for these options. */
export function compactCnnOutputDim(o: CompactCnnOptions): number {
  return (o.channels[o.channels.length - 1] ?? 0) + (o.contextChannels ?? 0) + (o.coordChannels ? 2 : 0);
}

/**
 * The compact CNN encoder: conv + ReLU blocks (3x3 unless kernelSizes says otherwise), every block
 * after the first preceded by 2x2 average pooling (max pooling's gradient is slow and wrong on wasm
 * for all-negative windows), then adaptive average pooling to the attention grid, optionally
 * followed by two coordinate channels. Trained from scratch with the model.
 */
export class CompactCnnEncoder {
  readonly variables: NamedVariable[];
  private readonly kernels: tf.Variable[] = [];
  private readonly biases: tf.Variable[] = [];
  private readonly coords: boolean;
  private readonly context?: { kernel: tf.Variable; bias: tf.Variable };

  constructor(
    options: CompactCnnOptions,
    private readonly gridSize: number,
    prefix: string,
    rng: () => number,
  ) {
    this.variables = [];
    this.coords = options.coordChannels === true;
    let inC = 3;
    options.channels.forEach((outC, i) => {
      const k = options.kernelSizes?.[i] ?? 3;
      // He-uniform: the layers are ReLU and trained from scratch.
      const bound = Math.sqrt(6 / (k * k * inC));
      // tidy disposes the initial-value tensors (a variable shares their data but not their handle).
      const [kernel, b] = tf.tidy(() => [
        tf.variable(tf.tensor4d(uniformArray(rng, k * k * inC * outC, -bound, bound), [k, k, inC, outC]), true, `${prefix}/encoder/conv${i}/kernel`),
        tf.variable(tf.zeros([outC]), true, `${prefix}/encoder/conv${i}/bias`),
      ]);
      this.kernels.push(kernel);
      this.biases.push(b);
      this.variables.push({ name: `encoder/conv${i}/kernel`, variable: kernel }, { name: `encoder/conv${i}/bias`, variable: b });
      inC = outC;
    });
    const ctx = options.contextChannels ?? 0;
    if (ctx > 0) {
      const bound = Math.sqrt(6 / (9 * inC));
      const [kernel, bias] = tf.tidy(() => [
        tf.variable(tf.tensor4d(uniformArray(rng, 9 * inC * ctx, -bound, bound), [3, 3, inC, ctx]), true, `${prefix}/encoder/context/kernel`),
        tf.variable(tf.zeros([ctx]), true, `${prefix}/encoder/context/bias`),
      ]);
      this.context = { kernel, bias };
      this.variables.push({ name: 'encoder/context/kernel', variable: kernel }, { name: 'encoder/context/bias', variable: bias });
    }
  }

  /** images [B, S, S, 3] -> annotations [B, grid*grid, C (+2)]. Caller owns the result. */
  encode(images: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      let x: tf.Tensor4D = images;
      this.kernels.forEach((k, i) => {
        if (i > 0) x = avgPool2x2(x);
        x = tf.relu(tf.add(tf.conv2d(x, k as tf.Tensor4D, 1, 'same'), this.biases[i]!)) as tf.Tensor4D;
      });
      let pooled = adaptiveAvgPoolToGrid(x, this.gridSize);
      if (this.context) {
        const [b, l, c] = pooled.shape;
        const grid = tf.reshape(pooled, [b, this.gridSize, this.gridSize, c]) as tf.Tensor4D;
        const wide = tf.relu(tf.add(tf.conv2d(grid, this.context.kernel as tf.Tensor4D, 1, 'same'), this.context.bias));
        pooled = tf.concat([pooled, tf.reshape(wide, [b, l, this.context.kernel.shape[3]!])], 2) as tf.Tensor3D;
      }
      if (!this.coords) return pooled;
      const g = this.gridSize;
      const xy = new Float32Array(g * g * 2);
      for (let r = 0; r < g; r++) {
        for (let c = 0; c < g; c++) {
          xy[(r * g + c) * 2] = -1 + (2 * c + 1) / g;
          xy[(r * g + c) * 2 + 1] = -1 + (2 * r + 1) / g;
        }
      }
      const coords = tf.tile(tf.tensor3d(xy, [1, g * g, 2]), [images.shape[0], 1, 1]);
      return tf.concat([pooled, coords], 2) as tf.Tensor3D;
    });
  }

  dispose(): void {
    for (const v of this.variables) v.variable.dispose();
  }
}
