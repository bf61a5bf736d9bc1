import * as tf from '@tensorflow/tfjs';

/**
 * PyTorch's AdaptiveAvgPool2d window for output cell i of n over an input of size len:
 * [floor(i*len/n), ceil((i+1)*len/n)).
 */
function windowOf(i: number, n: number, len: number): [number, number] {
  return [Math.floor((i * len) / n), Math.ceil(((i + 1) * len) / n)];
}

const poolMatrices = new Map<string, Float32Array>();

/** The [grid*grid, h*w] averaging matrix of adaptive average pooling (cached as plain data). */
function poolMatrix(h: number, w: number, grid: number): Float32Array {
  const key = `${h}x${w}->${grid}`;
  let m = poolMatrices.get(key);
  if (m) return m;
  m = new Float32Array(grid * grid * h * w);
  for (let gy = 0; gy < grid; gy++) {
    const [y0, y1] = windowOf(gy, grid, h);
    for (let gx = 0; gx < grid; gx++) {
      const [x0, x1] = windowOf(gx, grid, w);
      const weight = 1 / ((y1 - y0) * (x1 - x0));
      const row = (gy * grid + gx) * h * w;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[row + y * w + x] = weight;
    }
  }
  poolMatrices.set(key, m);
  return m;
}

/**
 * Adaptive average pooling of an NHWC feature map to grid x grid cells (PyTorch semantics, so the
 * cells may overlap when the input is not a multiple of the grid, and a map smaller than the grid is
 * up-sampled: ResNet's 8x8 map of a 256x256 image becomes the reference's 14x14), flattened row-major to
 * [B, grid*grid, C]. Written as one plain matMul so its gradient is cheap on every backend.
 * Caller owns the result.
 */
export function adaptiveAvgPoolToGrid(x: tf.Tensor4D, grid: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    if (h === grid && w === grid) return tf.reshape(x, [b, h * w, c]);
    const p = tf.tensor2d(poolMatrix(h, w, grid), [grid * grid, h * w]);
    const locationsFirst = tf.reshape(tf.transpose(tf.reshape(x, [b, h * w, c]), [1, 0, 2]), [h * w, b * c]);
    const pooled = tf.reshape(tf.matMul(p, locationsFirst), [grid * grid, b, c]);
    return tf.transpose(pooled, [1, 0, 2]) as tf.Tensor3D;
  });
}
