import type { Worker } from 'node:worker_threads';
import type { TrainBatch } from '../data/types.js';
import type { GradientHelpers, ShardGradients } from '../model/trainer.js';
import type { ModelConfig, TrainerOptions } from '../model/types.js';
import type { FromGradientWorker, GradientWorkerInit, ToGradientWorker } from './gradient-protocol.js';
import { startWorker, workerStarted, type StartupVerdict } from './worker-entry.js';

/** Options of GradientWorkers.start. */
export interface GradientWorkersOptions {
  /** Worker threads to start (each takes one shard of every step). */
  workers: number;
  config: ModelConfig;
  trainer: TrainerOptions;
  /** Backend the workers initialise: the training thread's, so all shards run the same kernels. */
  backend: string;
}

interface Helper {
  worker: Worker;
  pending?: { id: number; resolve: (g: ShardGradients) => void; reject: (e: Error) => void };
  /** Why the worker is gone, once it is. */
  dead?: string;
  numTensors: number;
}

/**
 * Data-parallel training on a CPU backend: one tfjs backend instance uses one core, so each extra
 * core gets a worker thread with a replica of the model. Every step, each worker receives the
 * current weights and one shard of the batch and returns that shard's gradients; the Trainer
 * averages them with its own shard's and applies one update, so the replicas never drift.
 * A worker that fails or dies fails the step with an error naming it.
 */
export class GradientWorkers implements GradientHelpers {
  private nextId = 1;

  private constructor(private readonly helpers: Helper[]) {}

  /** Starts the workers and resolves once every one has its backend and model. */
  static async start(o: GradientWorkersOptions): Promise<GradientWorkers> {
    if (!Number.isInteger(o.workers) || o.workers < 1) throw new RangeError(`gradient workers (${o.workers}) must be a positive integer`);
    const init: GradientWorkerInit = { config: o.config, trainer: o.trainer, backend: o.backend };
    const started = Array.from({ length: o.workers }, (_, i) => spawn(init, i + 1));
    const results = await Promise.allSettled(started.map((s) => s.ready));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((s) => s.worker.terminate()));
      throw failed.reason as Error;
    }
    return new GradientWorkers(started.map((s) => attach(s.worker, s.index)));
  }

  get size(): number {
    return this.helpers.length;
  }

  /** Tensors alive in each worker after its last shard (leak checks). */
  get workerTensors(): number[] {
    return this.helpers.map((h) => h.numTensors);
  }

  compute(weights: Float32Array[], shards: TrainBatch[], seeds: number[]): Promise<ShardGradients[]> {
    if (shards.length !== this.helpers.length || seeds.length !== shards.length) {
      return Promise.reject(new RangeError(`${shards.length} shards and ${seeds.length} seeds for ${this.helpers.length} gradient workers`));
    }
    return Promise.all(
      this.helpers.map(
        (h, k) =>
          new Promise<ShardGradients>((resolve, reject) => {
            if (h.dead) return reject(new Error(h.dead));
            if (h.pending) return reject(new Error(`gradient worker ${k + 1} is still computing a shard`));
            const id = this.nextId++;
            h.pending = { id, resolve, reject };
            const msg: ToGradientWorker = { type: 'shard', id, weights, batch: shards[k]!, seed: seeds[k]! };
            h.worker.postMessage(msg);
          }),
      ),
    );
  }

  async dispose(): Promise<void> {
    await Promise.all(
      this.helpers.map(async (h) => {
        h.dead ??= 'gradient workers were disposed';
        h.pending?.reject(new Error(h.dead));
        h.pending = undefined;
        await h.worker.terminate();
      }),
    );
  }
}

function spawn(init: GradientWorkerInit, index: number): { worker: Worker; index: number; ready: Promise<void> } {
  const worker = startWorker(import.meta.url, 'gradient-worker', { workerData: init, name: `gradients-${index}` });
  const ready = workerStarted(worker, `gradient worker ${index}`, (msg: FromGradientWorker): StartupVerdict<void> =>
    msg.type === 'ready' ? { value: undefined } : msg.type === 'init-failed' ? { error: msg.message } : undefined,
  );
  return { worker, index, ready };
}

function attach(worker: Worker, index: number): Helper {
  const h: Helper = { worker, numTensors: 0 };
  const fail = (why: string): void => {
    h.dead ??= why;
    h.pending?.reject(new Error(why));
    h.pending = undefined;
  };
  worker.on('message', (msg: FromGradientWorker) => {
    if ((msg.type !== 'grads' && msg.type !== 'failed') || msg.id !== h.pending?.id) return;
    const p = h.pending;
    h.pending = undefined;
    if (msg.type === 'grads') {
      h.numTensors = msg.numTensors;
      p.resolve(msg.result);
    } else {
      p.reject(new Error(`gradient worker ${index} failed on its shard: ${msg.message}`));
    }
  });
  worker.on('error', (e) => fail(`gradient worker ${index} crashed: ${e.message}`));
  worker.on('exit', (code) => fail(`gradient worker ${index} exited with code ${code}`));
  return h;
}
