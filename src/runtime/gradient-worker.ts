/**
 * Entry point of one gradient worker (a worker_thread): its own tfjs backend and a replica of the
 * model being trained. For each shard it takes the training thread's current weights, computes the
 * loss gradients on the shard and posts them back; it never updates weights itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendRequest } from '../backend/index.js';
import { ShowAttendTell } from '../model/show-attend-tell.js';
import { Trainer } from '../model/trainer.js';
import type { FromGradientWorker, GradientWorkerInit, ToGradientWorker } from './gradient-protocol.js';

const port = parentPort;
if (!port) throw new Error('gradient-worker.ts must run as a worker_thread (started by GradientWorkers)');
const init = workerData as GradientWorkerInit;
const post = (msg: FromGradientWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

const main = async (): Promise<void> => {
  let trainer: Trainer;
  try {
    await initBackend(init.backend as BackendRequest);
    const model = await ShowAttendTell.load(init.config);
    // A replica only computes gradients: the weight average lives with the main thread's trainer.
    trainer = new Trainer(model, { ...init.trainer, averageDecay: 0 });
    post({ type: 'ready' });
  } catch (e) {
    post({ type: 'init-failed', message: (e as Error).message });
    return;
  }
  port.on('message', (msg: ToGradientWorker) => {
    void (async () => {
      try {
        trainer.setTrainableWeights(msg.weights);
        const result = await trainer.gradients(msg.batch, msg.seed);
        post({ type: 'grads', id: msg.id, result, numTensors: tf.memory().numTensors }, result.grads.map((g) => g.buffer as ArrayBuffer));
      } catch (e) {
        post({ type: 'failed', id: msg.id, message: (e as Error).message });
      }
    })();
  });
};

void main();
