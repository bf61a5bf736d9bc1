/**
 * Entry point of one self-critical worker (a worker_thread): its own tfjs backend, copy of the model
 * and Trainer. For each shard it takes the owner's current decoder weights, searches and rewards the
 * shard's captions and posts the policy loss's gradients back; it never updates weights itself.
 */
import { initBackend, type BackendRequest } from '../src/backend/index.js';
import type { CaptionedImage } from '../src/data/types.js';
import { loadCheckpoint, Trainer, type TrainerOptions } from '../src/model/index.js';
import { serveShards } from '../src/runtime/shard-server.js';
import { policyShard, type PolicyShard } from './self-critical-shard.js';
import { imageLoader } from './train-data.js';

/** Passed as workerData when a self-critical worker starts. */
export interface SelfCriticalWorkerInit {
  modelDir: string;
  /** The owner's backend, so every shard runs the same kernels. */
  backend: string;
  trainer: TrainerOptions;
}

/** One shard: the owner's decoder weights, the images, and the captions to search per image. */
export interface SelfCriticalJob {
  weights: Float32Array[];
  images: CaptionedImage[];
  candidates: number;
}

serveShards(
  async (init: SelfCriticalWorkerInit) => {
    await initBackend(init.backend as BackendRequest);
    const { model, vocab, preprocess } = await loadCheckpoint(init.modelDir);
    return { model, vocab, trainer: new Trainer(model, init.trainer), load: imageLoader(preprocess, true) };
  },
  async ({ model, vocab, trainer, load }, job: SelfCriticalJob) => {
    trainer.setDecoderWeights(job.weights);
    const result: PolicyShard = await policyShard(model, vocab, trainer, job.images, await Promise.all(job.images.map(load)), job.candidates);
    return { result, transfer: result.gradients?.grads.map((g) => g.buffer as ArrayBuffer) };
  },
);
