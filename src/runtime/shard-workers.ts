import type { Worker } from 'node:worker_threads';
import type { FromShardWorker, ToShardWorker } from './shard-protocol.js';
import { startWorker, workerStarted, type StartupVerdict } from './worker-entry.js';

export interface ShardWorkersOptions<Init> {
  /** Worker threads to start. */
  workers: number;
  /** The worker module (it calls serveShards): its name, next to the module whose import.meta.url is `here`. */
  here: string;
  module: string;
  /** What errors call one worker, e.g. "pool worker" ("pool worker 2 crashed: ..."). */
  label: string;
  /** Passed to every worker's setup as workerData. */
  init: Init;
}

interface Helper<Result, Progress> {
  worker: Worker;
  index: number;
  pending?: { id: number; resolve: (r: Result) => void; reject: (e: Error) => void; progress?: (p: Progress) => void };
  /** Why the worker is gone, once it is. */
  dead?: string;
  numTensors: number;
}

/**
 * Worker threads that each take one shard of a job at a time: one tfjs wasm/cpu instance uses one
 * core, so a job on several cores runs one shard per worker beside the owner's own. A worker that
 * fails, crashes or exits fails its shard with an error naming it ("<label> 2 failed on its shard: ...").
 */
export class ShardWorkers<Job, Result, Progress = never> {
  private nextId = 1;

  private constructor(
    private readonly label: string,
    private readonly helpers: Helper<Result, Progress>[],
  ) {}

  /** Starts the workers and resolves once every one has set up. */
  static async start<Init, Job, Result, Progress = never>(o: ShardWorkersOptions<Init>): Promise<ShardWorkers<Job, Result, Progress>> {
    if (!Number.isInteger(o.workers) || o.workers < 0) throw new RangeError(`${o.label}s (${o.workers}) must be an integer >= 0`);
    const started = Array.from({ length: o.workers }, (_, i) => {
      const worker = startWorker(o.here, o.module, { workerData: o.init, name: `${o.module}-${i + 1}` });
      const ready = workerStarted(worker, `${o.label} ${i + 1}`, (msg: FromShardWorker<Result, Progress>): StartupVerdict<void> =>
        msg.type === 'ready' ? { value: undefined } : msg.type === 'init-failed' ? { error: msg.message } : undefined,
      );
      return { worker, ready };
    });
    const results = await Promise.allSettled(started.map((s) => s.ready));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((s) => s.worker.terminate()));
      throw failed.reason as Error;
    }
    return new ShardWorkers<Job, Result, Progress>(o.label, started.map((s, i) => attach<Result, Progress>(s.worker, i + 1, o.label)));
  }

  get size(): number {
    return this.helpers.length;
  }

  /** Tensors alive in each worker after its last shard (leak checks). */
  get workerTensors(): number[] {
    return this.helpers.map((h) => h.numTensors);
  }

  /** Runs one shard on worker k (0-based); the job is copied, except the buffers in `transfer`, which move. */
  run(k: number, job: Job, options: { transfer?: ArrayBuffer[]; progress?: (p: Progress) => void } = {}): Promise<Result> {
    const h = this.helpers[k];
    if (!h) return Promise.reject(new RangeError(`no ${this.label} ${k + 1} (there are ${this.helpers.length})`));
    return new Promise<Result>((resolve, reject) => {
      if (h.dead) return reject(new Error(h.dead));
      if (h.pending) return reject(new Error(`${this.label} ${h.index} is still computing a shard`));
      const id = this.nextId++;
      h.pending = { id, resolve, reject, progress: options.progress };
      const msg: ToShardWorker<Job> = { type: 'shard', id, job };
      h.worker.postMessage(msg, options.transfer ?? []);
    });
  }

  /** Fails every shard in progress, and every later one, with `why` (an aborted job). */
  failAll(why: string): void {
    this.helpers.forEach((h) => fail(h, why));
  }

  async dispose(): Promise<void> {
    await Promise.all(
      this.helpers.map(async (h) => {
        fail(h, `${this.label}s were disposed`);
        await h.worker.terminate();
      }),
    );
  }
}

function fail<Result, Progress>(h: Helper<Result, Progress>, why: string): void {
  h.dead ??= why;
  h.pending?.reject(new Error(h.dead));
  h.pending = undefined;
}

function attach<Result, Progress>(worker: Worker, index: number, label: string): Helper<Result, Progress> {
  const h: Helper<Result, Progress> = { worker, index, numTensors: 0 };
  worker.on('message', (msg: FromShardWorker<Result, Progress>) => {
    if (msg.type === 'ready' || msg.type === 'init-failed' || msg.id !== h.pending?.id) return;
    const p = h.pending;
    if (msg.type === 'progress') return p.progress?.(msg.progress);
    h.pending = undefined;
    if (msg.type === 'result') {
      h.numTensors = msg.numTensors;
      p.resolve(msg.result);
    } else {
      p.reject(new Error(`${label} ${index} failed on its shard: ${msg.message}`));
    }
  });
  worker.on('error', (e) => fail(h, `${label} ${index} crashed: ${e.message}`));
  worker.on('exit', (code) => fail(h, `${label} ${index} exited with code ${code}`));
  return h;
}
