/**
 * What GradientWorkers (the training thread) sends its worker threads. Plain data only: weights,
 * batches and gradients travel as typed arrays; no tensor crosses a thread.
 */
import type { TrainBatch } from '../data/types.js';
import type { ModelConfig, TrainerOptions } from '../model/types.js';

/** Passed as workerData when a gradient worker starts. */
export interface GradientWorkerInit {
  config: ModelConfig;
  trainer: TrainerOptions;
  /** The training thread's backend, so every shard runs the same kernels. */
  backend: string;
}

/** One shard of a step: the current weights, the rows to differentiate and the dropout seed. */
export interface GradientJob {
  weights: Float32Array[];
  batch: TrainBatch;
  seed: number;
}
