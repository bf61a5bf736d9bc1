import { availableParallelism } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { detectNvidiaGpu } from './detect-gpu.js';
import { registerNativeKernels } from './native-kernels.js';
import { registerWasmTrainingKernels } from './wasm-kernels/register-wasm-kernels.js';

/** A backend this project can run on, fastest first. */
export type BackendName = 'node-gpu' | 'node' | 'wasm' | 'cpu';

/** What {@link initBackend} accepts: a backend, or 'auto' for the fastest one that loads. */
export type BackendRequest = 'auto' | BackendName;

/** The backend in use. */
export interface BackendInfo {
  name: BackendName;
  /** The tfjs backend name (`tf.getBackend()`): 'tensorflow', 'wasm' or 'cpu'. */
  tfBackend: string;
  gpu: boolean;
  /** One line for logs, /metrics and CLI output, including why faster backends were skipped. */
  description: string;
  /** Set on the native backends (node, node-gpu): the TensorFlow library under tfjs-node. */
  native?: NativeInfo;
}

/** What a native backend runs on, as read from the loaded library and the environment. */
export interface NativeInfo {
  /** TF_Version() of the loaded libtensorflow, e.g. '2.16.2'. */
  tensorflow: string;
  /** Threads one op may use (TF_NUM_INTRAOP_THREADS, else TensorFlow's default: the core count). */
  intraOpThreads: number;
  /** Ops run concurrently (TF_NUM_INTEROP_THREADS, else the core count). */
  interOpThreads: number;
  /** oneDNN kernels on x86 (TF_ENABLE_ONEDNN_OPTS, on by default since TF 2.9): results may differ in the last bits. */
  oneDnn: boolean;
}

/** The environment variable that picks the backend when the caller does not. */
export const BACKEND_ENV_VAR = 'CAPTIONER_BACKEND';

/** Every value {@link initBackend} and {@link BACKEND_ENV_VAR} accept. */
export const BACKEND_REQUESTS: readonly BackendRequest[] = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'];

const AUTO_ORDER: readonly BackendName[] = ['node-gpu', 'node', 'wasm', 'cpu'];

// libtensorflow logs INFO lines (oneDNN, CPU features) to stderr when it loads; warnings stay on.
// It reads the process environment, which a worker_thread cannot change (its process.env is a
// copy), so the main thread sets it for the replicas and step workers it starts.
if (isMainThread) process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';

let pending: Promise<BackendInfo> | undefined;
let current: BackendInfo | undefined;

/**
 * Chooses and initializes the tfjs backend, once per process (each worker_thread is its own).
 * Must finish before any tensor exists. The request is, in order: `requested` unless it is
 * undefined or 'auto', else the CAPTIONER_BACKEND variable, else 'auto', which takes the first
 * backend that loads of node-gpu (only with a visible NVIDIA GPU), node, wasm, cpu. The native
 * packages are optional dependencies and are loaded only when tried. An explicit request that
 * cannot be met rejects with the reason instead of falling back.
 *
 * Concurrent and repeated calls share one initialization; a later explicit request for a
 * different backend than the one initialized rejects (tfjs cannot switch safely once tensors
 * exist). On wasm it also registers the training kernels (see registerWasmTrainingKernels).
 */
export function initBackend(requested?: BackendRequest, env: NodeJS.ProcessEnv = process.env): Promise<BackendInfo> {
  let request: BackendRequest;
  try {
    request = resolveRequest(requested, env);
  } catch (e) {
    return Promise.reject(e as Error);
  }
  if (pending === undefined) {
    const attempt = select(request).then((info) => {
      current = info;
      return info;
    });
    pending = attempt;
    // A failed attempt (e.g. an explicit 'node' that is not installed) may be retried.
    attempt.catch(() => {
      if (pending === attempt) pending = undefined;
    });
    return attempt;
  }
  return pending.then((info) => {
    if (request !== 'auto' && request !== info.name) {
      throw new Error(
        `initBackend('${request}'): the backend is already initialized as '${info.name}' in this process; ` +
          `it is chosen once, before any tensor exists (request it at startup, or via ${BACKEND_ENV_VAR})`,
      );
    }
    return info;
  });
}

/** The backend chosen by {@link initBackend}, or undefined before it has finished. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}

/** Validates the request; exported for unit tests. */
export function resolveRequest(requested: string | undefined, env: NodeJS.ProcessEnv): BackendRequest {
  if (requested !== undefined && requested !== 'auto') {
    if (!isRequest(requested)) {
      throw new Error(`initBackend('${requested}'): unknown backend; use one of ${BACKEND_REQUESTS.join(', ')}`);
    }
    return requested;
  }
  const fromEnv = env[BACKEND_ENV_VAR]?.trim();
  if (fromEnv === undefined || fromEnv === '') return 'auto';
  if (!isRequest(fromEnv)) {
    throw new Error(
      `${BACKEND_ENV_VAR}='${fromEnv}' is not a backend; set it to one of ${BACKEND_REQUESTS.join(', ')} or unset it`,
    );
  }
  return fromEnv;
}

function isRequest(value: string): value is BackendRequest {
  return (BACKEND_REQUESTS as readonly string[]).includes(value);
}

type Attempt = { ok: true; info: BackendInfo } | { ok: false; reason: string };

async function select(request: BackendRequest): Promise<BackendInfo> {
  const existing = tf.engine().state.numTensors;
  if (existing > 0) {
    throw new Error(
      `initBackend must run before any tensor is created, but ${existing} tensor(s) exist; ` +
        'call it at startup, before building models or optimizers',
    );
  }
  const order = request === 'auto' ? AUTO_ORDER : [request];
  const skipped: string[] = [];
  for (const name of order) {
    const attempt = await TRY[name]();
    if (attempt.ok) {
      const why = skipped.length > 0 ? ` (skipped ${skipped.join('; ')})` : '';
      return { ...attempt.info, description: attempt.info.description + why };
    }
    if (request !== 'auto') {
      throw new Error(`backend '${name}' requested but unavailable: ${attempt.reason}`);
    }
    skipped.push(`${name}: ${attempt.reason}`);
  }
  throw new Error(`no tfjs backend could be initialized: ${skipped.join('; ')}`);
}

const TRY: Record<BackendName, () => Promise<Attempt>> = {
  'node-gpu': async () => {
    const gpu = await detectNvidiaGpu();
    if (!gpu.visible) return { ok: false, reason: gpu.detail };
    return loadNative('node-gpu', '@tensorflow/tfjs-node-gpu', `libtensorflow with CUDA, ${gpu.detail}`);
  },
  node: () => loadNative('node', '@tensorflow/tfjs-node', 'libtensorflow on the CPU'),
  wasm: async () => {
    try {
      await import('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm'))) return { ok: false, reason: "tf.setBackend('wasm') failed" };
    } catch (e) {
      return { ok: false, reason: firstLine(e) };
    }
    const kernels = registerWasmTrainingKernels();
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    return {
      ok: true,
      info: {
        name: 'wasm',
        tfBackend: tf.getBackend(),
        gpu: false,
        description:
          `WebAssembly via @tensorflow/tfjs-backend-wasm (SIMD ${simd ? 'on' : 'off'}, ` +
          `${threads ? 'multithreaded' : 'one thread'}; training kernels: ${kernels.join(', ')})`,
      },
    };
  },
  cpu: async () => {
    if (!(await tf.setBackend('cpu'))) return { ok: false, reason: "tf.setBackend('cpu') failed" };
    silenceNodeBackendHint();
    return {
      ok: true,
      info: { name: 'cpu', tfBackend: 'cpu', gpu: false, description: 'plain JavaScript cpu backend (slow)' },
    };
  },
};

/** Loads a native package (an optional dependency that may be absent) and switches to it. */
async function loadNative(name: 'node' | 'node-gpu', pkg: string, what: string): Promise<Attempt> {
  try {
    // A non-literal specifier: the package is optional, so neither tsc nor bundlers may require it.
    const specifier: string = pkg;
    await import(specifier);
    if (!(await tf.setBackend('tensorflow'))) return { ok: false, reason: `${pkg} loaded but tf.setBackend('tensorflow') failed` };
    registerNativeKernels();
  } catch (e) {
    return { ok: false, reason: `${pkg} not loadable (${firstLine(e)})` };
  }
  const native = nativeInfo(process.env);
  return {
    ok: true,
    info: {
      name,
      tfBackend: 'tensorflow',
      gpu: name === 'node-gpu',
      native,
      description: `${what} via ${pkg}: ${describeNative(native)}`,
    },
  };
}

/** The loaded TensorFlow's version and the thread settings it reads from the environment. */
export function nativeInfo(env: NodeJS.ProcessEnv): NativeInfo {
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: unknown } }).binding;
  const threads = (v: string | undefined): number => {
    const n = Number(v);
    return Number.isInteger(n) && n > 0 ? n : availableParallelism();
  };
  const onednn = env.TF_ENABLE_ONEDNN_OPTS?.trim();
  return {
    tensorflow: typeof binding?.TF_Version === 'string' ? binding.TF_Version : 'unknown',
    intraOpThreads: threads(env.TF_NUM_INTRAOP_THREADS),
    interOpThreads: threads(env.TF_NUM_INTEROP_THREADS),
    oneDnn: process.arch === 'x64' && onednn !== '0' && onednn !== 'false',
  };
}

/** A short account for logs and the dashboard, e.g. 'TensorFlow 2.16.2, 2 intra-op / 2 inter-op threads, oneDNN'. */
export function describeNative(n: NativeInfo): string {
  return `TensorFlow ${n.tensorflow}, ${n.intraOpThreads} intra-op / ${n.interOpThreads} inter-op threads${n.oneDnn ? ', oneDNN' : ''}`;
}

/**
 * The cpu backend prints "Hi, looks like you are running TensorFlow.js in Node.js ... install
 * our node backend" on its first write. Having chosen cpu on purpose, that advice is noise; the
 * choice and the reason are in BackendInfo.description. The only switch is the instance's
 * `firstUse` field (tfjs-backend-cpu 4.x); other tfjs warnings stay on.
 */
function silenceNodeBackendHint(): void {
  const backend = tf.backend() as unknown as { firstUse?: unknown };
  if (typeof backend.firstUse === 'boolean') backend.firstUse = false;
}

function firstLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n')[0] ?? message;
}
