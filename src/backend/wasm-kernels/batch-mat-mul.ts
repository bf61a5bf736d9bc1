import * as tf from '@tensorflow/tfjs';
import { attr, disposeInfos, runKernelConfig, wasmTranspose, type WasmKernelArgs } from './kernel-utils.js';

/**
 * Builds a BatchMatMul for wasm that never asks the stock kernel for a transposed operand.
 * The stock kernel is 8-12x slower with transposeA/transposeB than without, and every matMul
 * gradient uses those forms; an explicit transpose (memory-bound, cheap) followed by the plain
 * product is faster. `stock` is the original wasm kernel, captured before it was replaced.
 */
export function makeBatchMatMul(stock: tf.KernelConfig): (args: WasmKernelArgs) => tf.TensorInfo {
  return ({ inputs, backend, attrs }) => {
    const transposeA = attr<boolean>(attrs, 'transposeA');
    const transposeB = attr<boolean>(attrs, 'transposeB');
    if (!transposeA && !transposeB) return runKernelConfig(stock, backend, inputs, attrs ?? {});
    const a = inputs.a as tf.TensorInfo;
    const b = inputs.b as tf.TensorInfo;
    const aT = transposeA ? wasmTranspose(backend, a, swapLastTwo(a.shape.length)) : a;
    const bT = transposeB ? wasmTranspose(backend, b, swapLastTwo(b.shape.length)) : b;
    try {
      return runKernelConfig(stock, backend, { a: aT, b: bT }, { ...attrs, transposeA: false, transposeB: false });
    } finally {
      if (transposeA) disposeInfos(backend, aT);
      if (transposeB) disposeInfos(backend, bT);
    }
  };
}

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}
