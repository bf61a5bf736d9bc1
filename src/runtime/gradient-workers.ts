import type { TrainBatch } from '../data/types.js';
import type { GradientHelpers, ShardGradients } from '../model/trainer.js';
import type { ModelConfig, TrainerOptions } from '../model/types.js';
import type { GradientJob, GradientWorkerInit } from './gradient-protocol.js';
import { ShardWorkers } from './shard-workers.js';

/** Options of GradientWorkers.start. */
export interface GradientWorkersOptions {
  /** Worker threads to start (each takes one shard of every step). */
  workers: number;
  config: ModelConfig;
  trainer: TrainerOptions;
  /** Backend the workers initialise: the training thread's, so all shards run the same kernels. */
  backend: string;
}

/**
 * Data-parallel training on a CPU backend: one tfjs backend instance uses one core, so each extra
 * core gets a worker thread with a replica of the model. Every step, each worker receives the
 * current weights and one shard of the batch and returns that shard's gradients; the Trainer
 * averages them with its own shard's and applies one update, so the replicas never drift.
 * A worker that fails or dies fails the step with an error naming it (ShardWorkers).
 */
export class GradientWorkers implements GradientHelpers {
  private constructor(private readonly workers: ShardWorkers<GradientJob, ShardGradients>) {}

  /** Starts the workers and resolves once every one has its backend and model. */
  static async start(o: GradientWorkersOptions): Promise<GradientWorkers> {
    if (!Number.isInteger(o.workers) || o.workers < 1) throw new RangeError(`gradient workers (${o.workers}) must be a positive integer`);
    const init: GradientWorkerInit = { config: o.config, trainer: o.trainer, backend: o.backend };
    return new GradientWorkers(await ShardWorkers.start<GradientWorkerInit, GradientJob, ShardGradients>({ workers: o.workers, here: import.meta.url, module: 'gradient-worker', label: 'gradient worker', init }));
  }

  get size(): number {
    return this.workers.size;
  }

  /** Tensors alive in each worker after its last shard (leak checks). */
  get workerTensors(): number[] {
    return this.workers.workerTensors;
  }

  compute(weights: Float32Array[], shards: TrainBatch[], seeds: number[]): Promise<ShardGradients[]> {
    if (shards.length !== this.size || seeds.length !== shards.length) {
      return Promise.reject(new RangeError(`${shards.length} shards and ${seeds.length} seeds for ${this.size} gradient workers`));
    }
    return Promise.all(shards.map((batch, k) => this.workers.run(k, { weights, batch, seed: seeds[k]! })));
  }

  dispose(): Promise<void> {
    return this.workers.dispose();
  }
}
