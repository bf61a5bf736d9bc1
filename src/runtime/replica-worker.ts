/**
 * Entry point of one model replica (a worker_thread): initialises its own tfjs backend, loads the
 * captioner from the checkpoint directory, warms it up, then captions batches posted by the pool.
 * Each replica owns its tensors; only plain arrays come in and go out.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendInfo } from '../backend/index.js';
import { loadCaptioner } from '../decoding/index.js';
import type { Hypothesis } from '../model/types.js';
import type { FromReplica, PlainHypothesis, ReplicaInit, ToReplica } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('replica-worker.ts must run as a worker_thread (started by ReplicaPool)');
const init = workerData as ReplicaInit;

const post = (msg: FromReplica, transfer: ArrayBuffer[] = []): void => port.postMessage(msg, transfer);

const plain = (h: Hypothesis): PlainHypothesis => ({
  caption: h.words.join(' '),
  words: h.words,
  score: h.score,
  logProb: h.logProb,
  finished: h.finished,
});

async function main(): Promise<void> {
  let info: BackendInfo;
  try {
    info = await initBackend(init.backend as Parameters<typeof initBackend>[0]);
  } catch (e) {
    post({ type: 'init-failed', message: `backend ${init.backend ?? 'auto'}: ${(e as Error).message}` });
    return;
  }
  let captioner: Awaited<ReturnType<typeof loadCaptioner>>;
  try {
    captioner = await loadCaptioner(init.modelDir);
  } catch (e) {
    post({ type: 'init-failed', message: `model ${init.modelDir}: ${(e as Error).message}` });
    return;
  }
  const { imageSize } = captioner.preprocess;
  if (init.warmUp) {
    const blank = { pixels: new Float32Array(imageSize * imageSize * 3), size: imageSize, sourceWidth: imageSize, sourceHeight: imageSize };
    await captioner.caption([blank], { beamSize: 1, maxSteps: 3 });
  }
  post({
    type: 'ready',
    info: {
      modelId: captioner.modelId,
      backend: info.name,
      tfBackend: info.tfBackend,
      gpu: info.gpu,
      ...(info.native ? { native: info.native } : {}),
      preprocess: captioner.preprocess,
      gridSize: captioner.model.config.gridSize,
      wordDetector: captioner.model.config.wordDetector === true,
    },
    memory: { numTensors: tf.memory().numTensors, numBytes: tf.memory().numBytes },
  });

  port!.on('message', (msg: ToReplica) => {
    if (msg.type !== 'run') return;
    const t0 = performance.now();
    captioner
      .caption(msg.images, msg.beam)
      .then((results) => {
        const captions = results.map((r) => ({
          ...plain(r.best),
          caption: r.caption,
          alternatives: r.alternatives.map(plain),
          attention: r.best.attention,
          gridSize: r.gridSize,
        }));
        const mem = tf.memory();
        const transfer = captions.flatMap((c) => c.attention.map((a) => a.buffer as ArrayBuffer));
        post(
          {
            type: 'result',
            batchId: msg.batchId,
            captions,
            modelMs: performance.now() - t0,
            memory: { numTensors: mem.numTensors, numBytes: mem.numBytes },
          },
          [...new Set(transfer)],
        );
      })
      .catch((e: unknown) => post({ type: 'error', batchId: msg.batchId, message: (e as Error).message ?? String(e) }));
  });
}

main().catch((e: unknown) => post({ type: 'init-failed', message: (e as Error).stack ?? String(e) }));
