import type { CaptionedImage, PreprocessConfig } from '../src/data/types.js';
import type { Vocabulary } from '../src/data/vocabulary.js';
import type { ShowAttendTell } from '../src/model/index.js';
import { ShardWorkers } from '../src/runtime/shard-workers.js';
import type { PoolJob, PoolWorkerInit } from './reranker-pool-protocol.js';
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

/**
 * Builds candidate pools on several threads: the images are cut into one contiguous shard per thread,
 * on chunk boundaries, so every image is searched in the same company as on one thread and the pools
 * come out the same, in the same order. This thread builds the first shard; each worker thread loads
 * its own copy of the model and builds one of the others. A worker that fails or dies fails the build
 * with an error naming it.
 */
export class PoolThreads {
  private constructor(
    private readonly o: PoolThreadsOptions & { chunk: number },
    private readonly workers: ShardWorkers<PoolJob, ImagePool[], number>,
  ) {}

  static async start(options: PoolThreadsOptions): Promise<PoolThreads> {
    const o = { ...options, chunk: options.chunk ?? 50 };
    if (!Number.isInteger(o.threads) || o.threads < 1) throw new RangeError(`pool threads (${o.threads}) must be a positive integer`);
    const init: PoolWorkerInit = { modelDir: o.modelDir, backend: o.backend, beamSize: o.beamSize, maxSteps: o.maxSteps, openings: o.openings.map((w) => [...w]), chunk: o.chunk };
    const workers = await ShardWorkers.start<PoolWorkerInit, PoolJob, ImagePool[], number>({ workers: o.threads - 1, here: import.meta.url, module: 'reranker-pool-worker', label: 'pool worker', init });
    return new PoolThreads(o, workers);
  }

  get threads(): number {
    return this.workers.size + 1;
  }

  /** Tensors alive in each worker after its last shard (leak checks). */
  get workerTensors(): number[] {
    return this.workers.workerTensors;
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
    // A failed shard stops this thread's too (within a chunk), so no build outlives the call.
    const stop = new AbortController();
    const own = candidatePools(this.o.model, this.o.vocab, this.o.preprocess, shards[0]!, { ...this.o, signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal, progress: (n) => report(0, n) });
    const theirs = shards.slice(1).map((shard, k) => (shard.length === 0 ? Promise.resolve([]) : this.workers.run(k, shard, { progress: (n) => report(k + 1, n) })));
    const onAbort = (): void => this.workers.failAll('the pool build was aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return (await Promise.all([own, ...theirs])).flat();
    } catch (err) {
      stop.abort();
      await own.catch(() => undefined);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  dispose(): Promise<void> {
    return this.workers.dispose();
  }
}
