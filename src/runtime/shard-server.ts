/**
 * The worker-thread side of ShardWorkers: sets up once from workerData (a backend, a model), then
 * computes each shard it is sent and posts the result, transferring the buffers `work` names.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { FromShardWorker, ToShardWorker } from './shard-protocol.js';

export interface ShardWork<Result> {
  result: Result;
  /** Buffers moved to the owner instead of copied (each at most once). */
  transfer?: ArrayBuffer[];
}

export function serveShards<Init, State, Job, Result, Progress = never>(
  setup: (init: Init) => Promise<State>,
  work: (state: State, job: Job, progress: (p: Progress) => void) => Promise<ShardWork<Result>>,
): void {
  const port = parentPort;
  if (!port) throw new Error('a shard worker must run as a worker_thread (started by ShardWorkers)');
  const post = (msg: FromShardWorker<Result, Progress>, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);
  void (async () => {
    let state: State;
    try {
      state = await setup(workerData as Init);
      post({ type: 'ready' });
    } catch (e) {
      post({ type: 'init-failed', message: (e as Error).message });
      return;
    }
    port.on('message', (msg: ToShardWorker<Job>) => {
      void (async () => {
        try {
          const { result, transfer } = await work(state, msg.job, (progress) => post({ type: 'progress', id: msg.id, progress }));
          post({ type: 'result', id: msg.id, result, numTensors: tf.memory().numTensors }, [...new Set(transfer ?? [])]);
        } catch (e) {
          post({ type: 'failed', id: msg.id, message: (e as Error).message });
        }
      })();
    });
  })();
}
