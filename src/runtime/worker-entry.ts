import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { shareCoresAmong } from '../backend/share-cores.js';

/**
 * Training step workers worth running on a backend: one per core on wasm and cpu (one tfjs instance
 * uses one core); on a native CPU backend one per core for a compact model (each with one TensorFlow
 * thread, see shareCoresAmong) and one using every core for a large one; one on a GPU, one device.
 */
export function threadsFor(backend: { gpu: boolean; native?: unknown }, model: ModelScale = 'large'): number {
  if (backend.gpu) return 1;
  return backend.native !== undefined && model === 'large' ? 1 : availableParallelism();
}

/**
 * Model replicas worth running on a backend: one per core on wasm and cpu, one on a native or GPU
 * backend. On native, one replica of every core served the default model as fast as two of one core
 * each (burst of 48: 76.7 and 75.9 images/s; docs/native-backend.md), and a large model faster.
 */
export function replicasFor(backend: { gpu: boolean; native?: unknown }): number {
  return threadsFor(backend, 'large');
}

/**
 * Before the backend loads: shares a native backend's cores among the step workers a model of this
 * scale will run (`requested`, else threadsFor's count for it; see shareCoresAmong).
 */
export function planStepWorkers(requested: number | undefined, model: ModelScale): void {
  // The backend is not loaded yet: plan for a native CPU one (on others shareCoresAmong has no effect).
  shareCoresAmong(requested ?? threadsFor({ gpu: false, native: true }, model));
}

/**
 * A model's size class for parallelism: 'compact' for the project's compact CNN (small ops, where
 * dispatch costs more than arithmetic), 'large' for everything else (pretrained encoders, reference
 * sizes).
 */
export type ModelScale = 'compact' | 'large';

/** The size class of a model config (see ModelScale). */
export function modelScale(config: { encoder: { kind: string } }): ModelScale {
  return config.encoder.kind === 'compact-cnn' ? 'compact' : 'large';
}

/**
 * Starts the worker module `name` that sits next to the calling module (`here` = its import.meta.url).
 * From .ts sources (dev, tests) the worker loads through tsx, which a plain Worker cannot do; from
 * dist/*.js it loads directly.
 */
export function startWorker(here: string, name: string, options: WorkerOptions): Worker {
  const isTs = fileURLToPath(here).endsWith('.ts');
  const file = new URL(`./${name}${isTs ? '.ts' : '.js'}`, here);
  return isTs ? new Worker(tsBootstrap(file), { ...options, eval: true }) : new Worker(file, options);
}

/**
 * Source of an eval'd worker that registers tsx's loader and then imports a .ts entry. Node 20 ignores
 * `execArgv: ['--import', 'tsx']` for workers ("Unknown file extension .ts"), so dev and test runs
 * register the loader inside the worker instead; tsx is resolved from this package, not the cwd.
 */
function tsBootstrap(entry: URL): string {
  const pkgJson = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const api = pathToFileURL(join(dirname(pkgJson), pkg.exports['./esm/api']!.import.default)).href;
  return `import(${JSON.stringify(api)}).then((m) => { (m.register ?? m.default.register)(); return import(${JSON.stringify(entry.href)}); });`;
}

/** What a startup handshake makes of one message: started (with a value), failed (why), or not yet. */
export type StartupVerdict<T> = { value: T } | { error: string } | undefined;

/**
 * Waits for a worker's startup handshake. `verdict` reads each message; a crash or exit before it
 * says started rejects too. Errors read "`name` could not start: ...", "`name` crashed while
 * starting: ...", "`name` exited with code N while starting".
 */
export function workerStarted<M, T>(worker: Worker, name: string, verdict: (msg: M) => StartupVerdict<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (msg: M): void => {
      const v = verdict(msg);
      if (!v) return;
      cleanup();
      if ('error' in v) reject(new Error(`${name} could not start: ${v.error}`));
      else resolve(v.value);
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new Error(`${name} crashed while starting: ${e.message}`));
    };
    const onExit = (code: number): void => {
      cleanup();
      reject(new Error(`${name} exited with code ${code} while starting`));
    };
    const cleanup = (): void => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
