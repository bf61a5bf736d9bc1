/**
 * Entry point of one pool worker (a worker_thread): its own tfjs backend and copy of the model. For
 * each shard of images it builds the candidate pools (reranker-pools.ts) and posts them back,
 * reporting the images done after each chunk.
 */
import { initBackend, type BackendRequest } from '../src/backend/index.js';
import { loadCheckpoint } from '../src/model/index.js';
import { serveShards } from '../src/runtime/shard-server.js';
import type { PoolJob, PoolWorkerInit } from './reranker-pool-protocol.js';
import { candidatePools, type ImagePool } from './reranker-pools.js';

serveShards(
  async (init: PoolWorkerInit) => {
    await initBackend(init.backend as BackendRequest);
    const loaded = await loadCheckpoint(init.modelDir);
    // The pools are what the model chooses from without a re-ranker, as on the main thread.
    loaded.model.reranker = undefined;
    return { ...loaded, init };
  },
  async ({ model, vocab, preprocess, init }, images: PoolJob, progress: (done: number) => void) => {
    const pools: ImagePool[] = await candidatePools(model, vocab, preprocess, images, { ...init, progress });
    return { result: pools, transfer: pools.flatMap((p) => p.features.map((f) => f.buffer as ArrayBuffer)) };
  },
);
