/**
 * Backend selection and the wasm kernels training needs. Call {@link initBackend} once at
 * startup (in every worker_thread), before any tensor exists.
 */
export {
  initBackend,
  describeNative,
  nativeInfo,
  currentBackend,
  BACKEND_ENV_VAR,
  BACKEND_REQUESTS,
  type BackendInfo,
  type BackendName,
  type BackendRequest,
  type NativeInfo,
} from './select-backend.js';
export { shareCoresAmong } from './share-cores.js';
export { detectNvidiaGpu, type GpuProbe, type GpuProbeOptions } from './detect-gpu.js';
export {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
  type WasmTrainingKernel,
} from './wasm-kernels/register-wasm-kernels.js';
