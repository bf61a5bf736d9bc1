/**
 * Entry point of one re-ranker fit worker (a worker_thread): its own tfjs backend and a view of the
 * pools in shared memory. Each job fits the network of one seed, reporting every epoch.
 */
import { initBackend, type BackendRequest } from '../src/backend/index.js';
import { serveShards } from '../src/runtime/shard-server.js';
import { fitReranker, type FitResult } from './fit-reranker.js';
import { unpackPools, type FitEpoch, type FitJob, type FitWorkerInit } from './fit-threads.js';

serveShards(
  async (init: FitWorkerInit) => {
    await initBackend(init.backend as BackendRequest);
    return { init, train: unpackPools(init.train), val: unpackPools(init.val) };
  },
  async ({ init, train, val }, job: FitJob, progress: (e: FitEpoch) => void) => {
    // Copied back, not transferred: a few hundred kB, and an array read from a backend may share its buffer.
    const result: FitResult = fitReranker(train, val, init.inputs, { ...init.options, seed: job.seed, onEpoch: progress });
    return { result };
  },
);
