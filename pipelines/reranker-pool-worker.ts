/**
 * Entry point of one pool worker (a worker_thread): its own tfjs backend and copy of the model. For
 * each shard of images it builds the candidate pools (reranker-pools.ts) and posts them back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendRequest } from '../src/backend/index.js';
import { loadCheckpoint, type LoadedCheckpoint } from '../src/model/index.js';
import type { FromPoolWorker, PoolWorkerInit, ToPoolWorker } from './reranker-pool-protocol.js';
import { candidatePools } from './reranker-pools.js';

const port = parentPort;
if (!port) throw new Error('reranker-pool-worker.ts must run as a worker_thread (started by PoolWorkers)');
const init = workerData as PoolWorkerInit;
const post = (msg: FromPoolWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

const main = async (): Promise<void> => {
  let loaded: LoadedCheckpoint;
  try {
    await initBackend(init.backend as BackendRequest);
    loaded = await loadCheckpoint(init.modelDir);
    // The pools are what the model chooses from without a re-ranker, as on the main thread.
    loaded.model.reranker = undefined;
    post({ type: 'ready' });
  } catch (e) {
    post({ type: 'init-failed', message: (e as Error).message });
    return;
  }
  const { model, vocab, preprocess } = loaded;
  port.on('message', (msg: ToPoolWorker) => {
    void (async () => {
      try {
        const pools = await candidatePools(model, vocab, preprocess, msg.images, {
          beamSize: init.beamSize,
          maxSteps: init.maxSteps,
          openings: init.openings,
          chunk: init.chunk,
          progress: (done) => post({ type: 'progress', id: msg.id, done }),
        });
        const buffers = new Set(pools.flatMap((p) => p.features.map((f) => f.buffer as ArrayBuffer)));
        post({ type: 'pools', id: msg.id, pools, numTensors: tf.memory().numTensors }, [...buffers]);
      } catch (e) {
        post({ type: 'failed', id: msg.id, message: (e as Error).message });
      }
    })();
  });
};

void main();
