/**
 * Entry point of one gradient worker (a worker_thread): its own tfjs backend and a replica of the
 * model being trained. For each shard it takes the training thread's current weights, computes the
 * loss gradients on the shard and posts them back; it never updates weights itself.
 */
import { initBackend, type BackendRequest } from '../backend/index.js';
import { ShowAttendTell } from '../model/show-attend-tell.js';
import { Trainer } from '../model/trainer.js';
import type { GradientJob, GradientWorkerInit } from './gradient-protocol.js';
import { serveShards } from './shard-server.js';

serveShards(
  async (init: GradientWorkerInit) => {
    await initBackend(init.backend as BackendRequest);
    const model = await ShowAttendTell.load(init.config);
    // A replica only computes gradients: the weight average lives with the main thread's trainer.
    return new Trainer(model, { ...init.trainer, averageDecay: 0 });
  },
  async (trainer, job: GradientJob) => {
    trainer.setTrainableWeights(job.weights);
    const result = await trainer.gradients(job.batch, job.seed);
    return { result, transfer: result.grads.map((g) => g.buffer as ArrayBuffer) };
  },
);
