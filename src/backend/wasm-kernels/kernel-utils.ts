/**
 * Helpers shared by the wasm kernels in this folder. Kernels run below the engine: they receive
 * and return `TensorInfo`s (not tensors), so intermediates are released with
 * `backend.disposeData`, never with `tf.dispose`, and nothing here touches the autograd tape.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** The argument every wasm kernel function receives from the engine. */
export interface WasmKernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs?: tf.NamedAttrMap;
}

/** A kernel function written against the wasm backend. */
export type WasmKernelFunc = (args: WasmKernelArgs) => tf.TensorInfo;

/**
 * Marks kernel configs registered by this module. `Symbol.for` is shared across module copies
 * (e.g. `dist/` and `src/` loaded in one process), so an override is never wrapped twice.
 */
export const OVERRIDE_MARK: unique symbol = Symbol.for('captioner.backend.wasmKernelOverride') as never;

/** A kernel config carrying our mark and, for overrides, the stock kernel it replaced. */
export interface MarkedKernelConfig extends tf.KernelConfig {
  [OVERRIDE_MARK]: { stock: tf.KernelConfig | undefined };
}

/** True when the config was registered by this module. */
export function isOurKernel(config: tf.KernelConfig | undefined): config is MarkedKernelConfig {
  return config !== undefined && OVERRIDE_MARK in config;
}

/** Runs the wasm kernel currently registered under `name` on TensorInfos; caller owns the output. */
export function runWasmKernel(
  name: string,
  backend: BackendWasm,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (kernel === undefined) throw new Error(`wasm kernel '${name}' is not registered`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

/** Runs a specific kernel config (e.g. a stock kernel saved before it was overridden). */
export function runKernelConfig(
  config: tf.KernelConfig,
  backend: BackendWasm,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  return config.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

/** Transposes on the wasm backend; caller owns the output. */
export function wasmTranspose(backend: BackendWasm, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  return runWasmKernel('Transpose', backend, { x }, { perm });
}

/** Releases kernel intermediates (refcounted: shared buffers survive while others hold them). */
export function disposeInfos(backend: BackendWasm, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** The engine passes attrs as a loose map; this reads one with the type the op documents. */
export function attr<T>(attrs: tf.NamedAttrMap | undefined, name: string): T {
  return (attrs ?? {})[name] as T;
}
