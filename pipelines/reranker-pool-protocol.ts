/**
 * What PoolThreads sends its worker threads (ShardWorkers): images travel as their records (each
 * worker reads the files itself), pools come back with their feature vectors transferred.
 */
import type { CaptionedImage } from '../src/data/types.js';

/** Passed as workerData when a pool worker starts. */
export interface PoolWorkerInit {
  /** The model whose candidates are built; each worker loads its own copy. */
  modelDir: string;
  /** The main thread's backend, so every shard runs the same kernels. */
  backend: string;
  beamSize: number;
  maxSteps: number;
  openings: string[][];
  chunk: number;
}

/** One shard: the images to build pools for. */
export type PoolJob = CaptionedImage[];
