import * as tf from '@tensorflow/tfjs';
import { makeAvgPoolGrad } from './avg-pool-grad.js';
import { makeBatchMatMul } from './batch-mat-mul.js';
import { conv2DBackpropFilter } from './conv2d-backprop-filter.js';
import { makeConv2DBackpropInput } from './conv2d-backprop-input.js';
import { makeIdentity } from './identity.js';
import { isOurKernel, OVERRIDE_MARK, type MarkedKernelConfig, type WasmKernelArgs } from './kernel-utils.js';
import { unsortedSegmentSum } from './unsorted-segment-sum.js';

type KernelBody = (args: WasmKernelArgs) => tf.TensorInfo;

/**
 * The wasm kernels this module provides. `stock: 'none'` marks kernels wasm lacks; the others
 * replace a stock kernel, which they receive so they can delegate to it.
 */
const KERNELS = {
  UnsortedSegmentSum: { build: (): KernelBody => unsortedSegmentSum },
  Conv2DBackpropFilter: { build: (): KernelBody => conv2DBackpropFilter },
  Conv2DBackpropInput: { build: (stock?: tf.KernelConfig): KernelBody => makeConv2DBackpropInput(needStock(stock)) },
  BatchMatMul: { build: (stock?: tf.KernelConfig): KernelBody => makeBatchMatMul(needStock(stock)) },
  Identity: { build: (stock?: tf.KernelConfig): KernelBody => makeIdentity(needStock(stock)) },
  AvgPoolGrad: { build: (stock?: tf.KernelConfig): KernelBody => makeAvgPoolGrad(needStock(stock)) },
} as const;

/** Names of the wasm kernels registered by {@link registerWasmTrainingKernels}. */
export type WasmTrainingKernel = keyof typeof KERNELS;

/** Every kernel {@link registerWasmTrainingKernels} installs by default. */
export const WASM_TRAINING_KERNELS = Object.keys(KERNELS) as WasmTrainingKernel[];

function needStock(stock: tf.KernelConfig | undefined): tf.KernelConfig {
  if (stock === undefined) throw new Error('the stock wasm kernel to wrap is missing; import @tensorflow/tfjs-backend-wasm first');
  return stock;
}

/**
 * Registers the wasm kernels that training needs (missing gradients) and the measured speed-ups
 * (see pipelines/bench/bench-kernels.ts). Idempotent: a kernel already installed by this module,
 * even by another copy of it, is left alone. Call after importing `@tensorflow/tfjs-backend-wasm`;
 * it may run before or after the backend is initialized (stock setup functions are carried over).
 * @param only restrict to these kernels (benchmarks compare each one against stock)
 * @returns the kernels this module now provides for wasm
 */
export function registerWasmTrainingKernels(only: readonly WasmTrainingKernel[] = WASM_TRAINING_KERNELS): WasmTrainingKernel[] {
  if (tf.findBackendFactory('wasm') == null) {
    throw new Error("registerWasmTrainingKernels: the 'wasm' backend is not registered; import '@tensorflow/tfjs-backend-wasm' first");
  }
  for (const name of only) {
    const current = tf.getKernel(name, 'wasm');
    if (isOurKernel(current)) continue;
    const config: MarkedKernelConfig = {
      kernelName: name,
      backendName: 'wasm',
      // The stock setup (a cwrap of the wasm export) still has to run if the backend initializes later.
      setupFunc: current?.setupFunc,
      kernelFunc: KERNELS[name].build(current) as unknown as tf.KernelFunc,
      [OVERRIDE_MARK]: { stock: current },
    };
    if (current !== undefined) tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(config);
  }
  return WASM_TRAINING_KERNELS.filter((name) => isOurKernel(tf.getKernel(name, 'wasm')));
}

/**
 * Puts the stock wasm kernels back (and removes the ones wasm lacks). For benchmarks and tests
 * that compare against stock behaviour.
 */
export function unregisterWasmTrainingKernels(only: readonly WasmTrainingKernel[] = WASM_TRAINING_KERNELS): void {
  for (const name of only) {
    const current = tf.getKernel(name, 'wasm');
    if (!isOurKernel(current)) continue;
    tf.unregisterKernel(name, 'wasm');
    const stock = current[OVERRIDE_MARK].stock;
    if (stock !== undefined) tf.registerKernel(stock);
  }
}
