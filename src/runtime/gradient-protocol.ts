/**
 * Messages between GradientWorkers (the training thread) and its worker threads. Plain data only:
 * weights, batches and gradients travel as typed arrays; no tensor crosses a thread.
 */
import type { TrainBatch } from '../data/types.js';
import type { ShardGradients } from '../model/trainer.js';
import type { ModelConfig, TrainerOptions } from '../model/types.js';

/** Passed as workerData when a gradient worker starts. */
export interface GradientWorkerInit {
  config: ModelConfig;
  trainer: TrainerOptions;
  /** The training thread's backend, so every shard runs the same kernels. */
  backend: string;
}

export type ToGradientWorker = { type: 'shard'; id: number; weights: Float32Array[]; batch: TrainBatch; seed: number };

export type FromGradientWorker =
  | { type: 'ready' }
  | { type: 'init-failed'; message: string }
  | { type: 'grads'; id: number; result: ShardGradients; numTensors: number }
  | { type: 'failed'; id: number; message: string };
