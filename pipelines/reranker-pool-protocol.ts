/**
 * Messages between PoolWorkers (the thread training a re-ranker) and its worker threads. Plain data
 * only: images travel as their records (each worker reads the files itself), pools come back with
 * their feature vectors transferred, not copied.
 */
import type { CaptionedImage } from '../src/data/types.js';
import type { ImagePool } from './reranker-pools.js';

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

export type ToPoolWorker = { type: 'shard'; id: number; images: CaptionedImage[] };

export type FromPoolWorker =
  | { type: 'ready' }
  | { type: 'init-failed'; message: string }
  | { type: 'progress'; id: number; done: number }
  | { type: 'pools'; id: number; pools: ImagePool[]; numTensors: number }
  | { type: 'failed'; id: number; message: string };
