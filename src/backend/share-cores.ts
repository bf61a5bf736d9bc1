import { availableParallelism } from 'node:os';
import { isMainThread } from 'node:worker_threads';

/**
 * How a native CPU backend's threads are shared among the tfjs instances of a process (training
 * step workers, model replicas). TensorFlow sizes its thread pools from TF_NUM_INTRAOP_THREADS and
 * TF_NUM_INTEROP_THREADS once, when the library loads, for every thread of the process; a
 * worker_thread cannot change the process environment, so the main thread sets them before the
 * backend loads. Values the user set are kept.
 *
 * The split is `cores / instances` threads each, so instances never oversubscribe the cores: for a
 * compact model, whose ops are small, one single-threaded instance per core trains faster than one
 * instance using every core (the default model's recipe, batch 32: 239 ms a step on two workers of
 * one thread against 297-384 ms on one of two threads; docs/native-backend.md); a large model's
 * matrix products use every core of one instance better (reference sizes: 1.35 s a step on one
 * instance of two threads against 1.67 s on two of one). Has no effect on wasm or cpu.
 */
export function shareCoresAmong(instances: number, env: NodeJS.ProcessEnv = process.env): void {
  if (!Number.isInteger(instances) || instances < 1) throw new RangeError(`instances must be a positive integer (got ${instances})`);
  if (!isMainThread) return;
  const each = String(Math.max(1, Math.floor(availableParallelism() / instances)));
  env.TF_NUM_INTRAOP_THREADS ??= each;
  env.TF_NUM_INTEROP_THREADS ??= each;
}
