import * as tf from '@tensorflow/tfjs';
import { attr, disposeInfos, runKernelConfig, runWasmKernel, wasmTranspose, type WasmKernelArgs } from './kernel-utils.js';

/**
 * Builds a BatchMatMul for wasm that steers products onto the stock kernel's fast path.
 *
 * The stock kernel is fast (XNNPACK) only for a single plain product; a transposed operand or
 * a batch dimension sends it to a naive loop. Measured in pipelines/bench/bench-kernels.ts:
 * transposeA ~20x slower, transposeB ~2x, and [32,64,256] x [256,128] ~14x slower than the
 * same product folded to [2048,256] x [256,128]. Every matMul gradient uses a transposed form,
 * so when `b` has no real batch (its batch dims are all 1) this kernel transposes explicitly
 * (memory-bound, cheap), folds a's batch into its rows (free: a reshape), runs one plain
 * product and restores the broadcast output shape. Truly batched products (b's batch > 1) stay
 * on the stock kernel, which is faster there with transposeB than with an explicit transpose,
 * except when the inner dimension is 1: then the product is an outer product, computed as one
 * broadcast multiply (the attention context's gradient alpha^T dy, [32,1,64]^T x [32,1,512]:
 * ~22 ms stock, <1 ms here, once per decoder time step).
 * `stock` is the original wasm kernel, captured before it was replaced.
 */
export function makeBatchMatMul(stock: tf.KernelConfig): (args: WasmKernelArgs) => tf.TensorInfo {
  return ({ inputs, backend, attrs }) => {
    const a = inputs.a as tf.TensorInfo;
    const b = inputs.b as tf.TensorInfo;
    const transposeA = attr<boolean>(attrs, 'transposeA');
    const transposeB = attr<boolean>(attrs, 'transposeB');
    if (a.shape[a.shape.length - (transposeA ? 2 : 1)] === 1 && a.dtype === 'float32' && b.dtype === 'float32') {
      return outerProduct(backend, a, b, transposeA, transposeB);
    }
    const bBatch = tf.util.sizeFromShape(b.shape.slice(0, -2));
    const aBatch = tf.util.sizeFromShape(a.shape.slice(0, -2));
    const plainAlready = !transposeA && !transposeB && aBatch === 1;
    if (bBatch !== 1 || plainAlready || a.dtype !== 'float32' || b.dtype !== 'float32') {
      return runKernelConfig(stock, backend, inputs, attrs ?? {});
    }
    const outShape = tf.broadcast_util
      .assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2))
      .concat([a.shape[a.shape.length - (transposeA ? 1 : 2)] as number, b.shape[b.shape.length - (transposeB ? 2 : 1)] as number]);

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

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}
