import * as tf from '@tensorflow/tfjs';
import { runKernelConfig, type WasmKernelArgs } from './kernel-utils.js';

/**
 * Builds an Identity for wasm that shares the input's buffer instead of copying it. The engine
 * clones every tensor it saves for backprop through Identity, so the stock copying kernel costs
 * hundreds of memcpys per training step. Sharing is safe because tensors are immutable (a
 * Variable's assign swaps its dataId, it never writes in place), and it is exactly what wasm's
 * Reshape and the cpu backend's Identity do: bump the refcount, return the same dataId.
 * Strings keep the stock path.
 */
export function makeIdentity(stock: tf.KernelConfig): (args: WasmKernelArgs) => tf.TensorInfo {
  return ({ inputs, backend, attrs }) => {
    const x = inputs.x as tf.TensorInfo;
    if (x.dtype === 'string') return runKernelConfig(stock, backend, inputs, attrs ?? {});
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}
