import * as tf from '@tensorflow/tfjs';
import { attr, disposeInfos, runKernelConfig, runWasmKernel, wasmTranspose, type WasmKernelArgs } from './kernel-utils.js';

/**
 * Builds a BatchMatMul for wasm that steers products onto the stock kernel's fast path.
 *
 * The stock kernel is fast (XNNPACK) only for a single plain product; a transposed operand or
 * a batch dimension sends it to a naive loop whose cost grows with K*M*N. Every matMul gradient
 * uses a transposed form. Routes, in order (speed-ups measured in pipelines/bench/bench-kernels.ts):
 * - inner dimension 1: an outer product, one broadcast multiply (attention context gradient
 *   alpha^T dy, [32,1,64]^T x [32,1,512]: ~3-7x);
 * - transposeA with a single-column b: (b^T a)^T, both transposes being views (score kernel
 *   gradient [2048,128]^T x [2048,1]: ~3x);
 * - b without a real batch (its batch dims all 1) and the output at least MIN_WIDTH wide on the
 *   transposed side: transpose explicitly, fold a's batch into rows (a view), one plain product
 *   (x^T dy [32,1280]^T x [32,1024]: ~20x; [32,64,256] x [256,128]: ~14x);
 * - anything else (truly batched products, narrow outputs): the stock kernel, which is faster
 *   there than an explicit transpose.
 * `stock` is the original wasm kernel, captured before it was replaced.
 */
/** Below this many output columns (transposeA) or rows (transposeB), the stock kernel wins. */
const MIN_WIDTH = 8;

export function makeBatchMatMul(stock: tf.KernelConfig): (args: WasmKernelArgs) => tf.TensorInfo {
  return ({ inputs, backend, attrs }) => {
    const a = inputs.a as tf.TensorInfo;
    const b = inputs.b as tf.TensorInfo;
    const transposeA = attr<boolean>(attrs, 'transposeA');
    const transposeB = attr<boolean>(attrs, 'transposeB');
    if (a.shape[a.shape.length - (transposeA ? 2 : 1)] === 1 && a.dtype === 'float32' && b.dtype === 'float32') {
      return outerProduct(backend, a, b, transposeA, transposeB);
    }
    if (transposeA && !transposeB && b.shape[b.shape.length - 1] === 1 && a.dtype === 'float32' && b.dtype === 'float32') {
      return rowTimesMatrix(stock, backend, a, b);
    }
    const bBatch = tf.util.sizeFromShape(b.shape.slice(0, -2));
    const aBatch = tf.util.sizeFromShape(a.shape.slice(0, -2));
    const plainAlready = !transposeA && !transposeB && aBatch === 1;
    if (bBatch !== 1 || plainAlready || a.dtype !== 'float32' || b.dtype !== 'float32') {
      return runKernelConfig(stock, backend, inputs, attrs ?? {});
    }
    // The stock loop costs ~K*M*N, an explicit transpose ~K*M (or K*N): with the other side
    // narrow (< MIN_WIDTH columns or rows) the stock loop is cheaper (measured in the bench).
    const m = a.shape[a.shape.length - (transposeA ? 1 : 2)] as number;
    const n = b.shape[b.shape.length - (transposeB ? 2 : 1)] as number;
    if ((transposeA && n < MIN_WIDTH) || (transposeB && aBatch * m < MIN_WIDTH)) {
      return runKernelConfig(stock, backend, inputs, attrs ?? {});
    }
    const outShape = tf.broadcast_util
      .assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2))
      .concat([m, n]);

    const aPlain = transposeA ? wasmTranspose(backend, a, swapLastTwo(a.shape.length)) : a;
    const bPlain = transposeB ? wasmTranspose(backend, b, swapLastTwo(b.shape.length)) : b;
    const k = aPlain.shape[aPlain.shape.length - 1] as number;
    // Views with new shapes over the same buffers: the stock kernel only reads them.
    const aRows = { ...aPlain, shape: [tf.util.sizeFromShape(aPlain.shape) / k, k] };
    const bMatrix = { ...bPlain, shape: bPlain.shape.slice(-2) };
    try {
      const out = runKernelConfig(stock, backend, { a: aRows, b: bMatrix }, { ...attrs, transposeA: false, transposeB: false });
      return { dataId: out.dataId, dtype: out.dtype, shape: outShape };
    } finally {
      if (transposeA) disposeInfos(backend, aPlain);
      if (transposeB) disposeInfos(backend, bPlain);
    }
  };
}

/**
 * a·b when the inner dimension is 1: a as a column [..., M, 1] times b as a row [..., 1, N],
 * broadcast over batch dims. With a size-1 axis, "transposing" is only a reshape (a view).
 */
function outerProduct(
  backend: WasmKernelArgs['backend'],
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): tf.TensorInfo {
  const m = a.shape[a.shape.length - (transposeA ? 1 : 2)] as number;
  const n = b.shape[b.shape.length - (transposeB ? 2 : 1)] as number;
  const column = { ...a, shape: [...a.shape.slice(0, -2), m, 1] };
  const row = { ...b, shape: [...b.shape.slice(0, -2), 1, n] };
  return runWasmKernel('Multiply', backend, { a: column, b: row });
}

/**
 * a^T·b when b is a single column, computed as (b^T·a)^T: with a size-1 axis both transposes
 * are views, and b^T·a is a plain product. This is the gradient of a [.., K] x [K, 1]
 * projection (attention scores) with respect to its kernel; an explicit transpose of a there
 * costs more than the stock kernel's loop.
 */
function rowTimesMatrix(stock: tf.KernelConfig, backend: WasmKernelArgs['backend'], a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const k = b.shape[b.shape.length - 2] as number;
  const row = { ...b, shape: [...b.shape.slice(0, -2), 1, k] };
  const out = runKernelConfig(stock, backend, { a: row, b: a }, { transposeA: false, transposeB: false });
  const m = out.shape[out.shape.length - 1] as number;
  return { dataId: out.dataId, dtype: out.dtype, shape: [...out.shape.slice(0, -2), m, 1] };
}

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}
