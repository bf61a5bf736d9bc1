import type { Worker } from 'node:worker_threads';
import type { CaptionedImage, PreprocessConfig } from '../src/data/types.js';
import type { Vocabulary } from '../src/data/vocabulary.js';
import type { ShowAttendTell } from '../src/model/index.js';
import { startWorker, workerStarted, type StartupVerdict } from '../src/runtime/worker-entry.js';
import type { FromPoolWorker, PoolWorkerInit, ToPoolWorker } from './reranker-pool-protocol.js';
import { candidatePools, type ImagePool } from './reranker-pools.js';

export interface PoolThreadsOptions {
  /** Threads that build pools, this one included (one tfjs wasm/cpu instance uses one core). */
  threads: number;
  /** The model loaded on this thread (reranker off), and the directory the workers load it from. */
  model: ShowAttendTell;
  vocab: Vocabulary;
  preprocess: PreprocessConfig;
  modelDir: string;
  backend: string;
  beamSize: number;
  maxSteps: number;
  openings: readonly (readonly string[])[];
  /** Images encoded and searched together (default 50). */
  chunk?: number;
}

interface Helper {
  worker: Worker;
  index: number;
  pending?: { id: number; resolve: (p: ImagePool[]) => void; reject: (e: Error) => void; progress: (done: number) => void };
  dead?: string;
  numTensors: number;
}

/**
 * Builds candidate pools on several threads: the images are cut into one contiguous shard per thread,
 * on chunk boundaries, so every image is searched in the same company as on one thread and the pools
 * come out the same, in the same order. This thread builds the first shard; each worker thread loads
 * its own copy of the model and builds one of the others. A worker that fails or dies fails the build
 * with an error naming it.
 */
export class PoolThreads {
  private nextId = 1;

  private constructor(
    private readonly o: PoolThreadsOptions & { chunk: number },
    private readonly helpers: Helper[],
  ) {}

  static async start(options: PoolThreadsOptions): Promise<PoolThreads> {
    const o = { ...options, chunk: options.chunk ?? 50 };
    if (!Number.isInteger(o.threads) || o.threads < 1) throw new RangeError(`pool threads (${o.threads}) must be a positive integer`);
    const init: PoolWorkerInit = { modelDir: o.modelDir, backend: o.backend, beamSize: o.beamSize, maxSteps: o.maxSteps, openings: o.openings.map((w) => [...w]), chunk: o.chunk };
    const started = Array.from({ length: o.threads - 1 }, (_, i) => spawn(init, i + 1));
    const results = await Promise.allSettled(started.map((s) => s.ready));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((s) => s.worker.terminate()));
      throw failed.reason as Error;
    }
    return new PoolThreads(o, started.map((s) => attach(s.worker, s.index)));
  }

  get threads(): number {
    return this.helpers.length + 1;
  }

  /** Tensors alive in each worker after its last shard (leak checks). */
  get workerTensors(): number[] {
    return this.helpers.map((h) => h.numTensors);
  }

  /** The pools of `images` in their order; `progress` gets the number of images done over all threads. */
  async build(images: readonly CaptionedImage[], progress?: (done: number) => void, signal?: AbortSignal): Promise<ImagePool[]> {
    const { chunk } = this.o;
    const shardSize = Math.ceil(images.length / this.threads / chunk) * chunk;
    const shards = Array.from({ length: this.threads }, (_, k) => images.slice(k * shardSize, (k + 1) * shardSize));
    const done = shards.map(() => 0);
    const report = (k: number, n: number): void => {
      done[k] = n;
      progress?.(done.reduce((a, b) => a + b, 0));
    };
    const own = candidatePools(this.o.model, this.o.vocab, this.o.preprocess, shards[0]!, { ...this.o, signal, progress: (n) => report(0, n) });
    const theirs = this.helpers.map((h, k) => this.send(h, shards[k + 1]!, (n) => report(k + 1, n)));
    const onAbort = (): void => this.helpers.forEach((h) => fail(h, 'the pool build was aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return (await Promise.all([own, ...theirs])).flat();
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(
      this.helpers.map(async (h) => {
        fail(h, 'pool threads were disposed');
        await h.worker.terminate();
      }),
    );
  }

  private send(h: Helper, images: CaptionedImage[], progress: (done: number) => void): Promise<ImagePool[]> {
    if (images.length === 0) return Promise.resolve([]);
    return new Promise<ImagePool[]>((resolve, reject) => {
      if (h.dead) return reject(new Error(h.dead));
      if (h.pending) return reject(new Error(`pool worker ${h.index} is still building a shard`));
      const id = this.nextId++;
      h.pending = { id, resolve, reject, progress };
      const msg: ToPoolWorker = { type: 'shard', id, images };
      h.worker.postMessage(msg);
    });
  }
}

function spawn(init: PoolWorkerInit, index: number): { worker: Worker; index: number; ready: Promise<void> } {
  const worker = startWorker(import.meta.url, 'reranker-pool-worker', { workerData: init, name: `pools-${index}` });
  const ready = workerStarted(worker, `pool worker ${index}`, (msg: FromPoolWorker): StartupVerdict<void> =>
    msg.type === 'ready' ? { value: undefined } : msg.type === 'init-failed' ? { error: msg.message } : undefined,
  );
  return { worker, index, ready };
}

function fail(h: Helper, why: string): void {
  h.dead ??= why;
  h.pending?.reject(new Error(h.dead));
  h.pending = undefined;
}

function attach(worker: Worker, index: number): Helper {
  const h: Helper = { worker, index, numTensors: 0 };
  worker.on('message', (msg: FromPoolWorker) => {
    if (msg.type === 'ready' || msg.type === 'init-failed' || msg.id !== h.pending?.id) return;
    const p = h.pending;
    if (msg.type === 'progress') return p.progress(msg.done);
    h.pending = undefined;
    if (msg.type === 'pools') {
      h.numTensors = msg.numTensors;
      p.resolve(msg.pools);
    } else {
      p.reject(new Error(`pool worker ${index} failed on its shard: ${msg.message}`));
    }
  });
  worker.on('error', (e) => fail(h, `pool worker ${index} crashed: ${e.message}`));
  worker.on('exit', (code) => fail(h, `pool worker ${index} exited with code ${code}`));
  return h;
}
