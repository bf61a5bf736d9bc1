import type { Worker } from 'node:worker_threads';
import type { PreparedImage } from '../data/types.js';
import type { CaptionOptions } from '../decoding/caption-options.js';
import { shareCoresAmong } from '../backend/share-cores.js';
import type { FromReplica, ReplicaCaption, ReplicaInfo, ReplicaInit, ToReplica } from './protocol.js';
import { replicasFor, startWorker, workerStarted, type StartupVerdict } from './worker-entry.js';

/** Options of a ReplicaPool. */
export interface ReplicaPoolOptions {
  /** Checkpoint directory every replica loads with loadCaptioner. */
  modelDir: string;
  /**
   * Number of replicas. Default: replicasFor(backend): one per core on wasm and cpu, one on a
   * native or GPU backend (TensorFlow's thread pool already uses every core; one device).
   */
  workers?: number;
  /** Backend request for initBackend in each replica (default: its own default). */
  backend?: string;
  /** Warm each replica on a blank image before it counts as ready (default true). */
  warmUp?: boolean;
  /** Replacement attempts for replicas that crash or fail to start, per pool lifetime (default 10). */
  maxRestarts?: number;
  /**
   * When a replica becomes idle and several batches are waiting, merge them into one model call
   * of at most this many images (default 0: never). Like Triton's queue: batches that formed small
   * while every replica was busy are captioned together, which raises throughput under load. A
   * function gets the number of live replicas (see coalesceLimit).
   */
  coalesceUpTo?: number | ((replicas: number) => number);
}

/** A batch's output: captions in input order, plus the replica's timings and memory. */
export interface BatchOutput {
  captions: ReplicaCaption[];
  modelMs: number;
  /** Time the batch waited for an idle replica, ms. */
  waitMs: number;
  replica: number;
  /** Images in the model call that captioned this batch (more than the batch when coalesced). */
  modelBatchSize: number;
  memory: { numTensors: number; numBytes: number };
}

/** The batch's replica died (or the pool was disposed) before answering; the jobs should fail. */
export class ReplicaCrashError extends Error {
  constructor(
    message: string,
    readonly replica: number,
  ) {
    super(message);
    this.name = 'ReplicaCrashError';
  }
}

interface Pending {
  images: PreparedImage[];
  beam: CaptionOptions;
  queuedAt: number;
  resolve: (out: BatchOutput) => void;
  reject: (e: Error) => void;
}

interface Replica {
  index: number;
  worker: Worker;
  ready: boolean;
  current?: { batchId: number; group: Pending[]; startedAt: number };
  memory: { numTensors: number; numBytes: number };
}

/**
 * Model replicas in worker_threads, fed batches by whichever is idle. Each replica calls initBackend
 * and loadCaptioner itself (tfjs state is per thread). A replica that crashes fails the batch it held
 * with a ReplicaCrashError and is replaced; `dispose()` terminates them all and fails queued batches.
 *
 * Workers load from .ts sources through tsx (dev, tests) or from dist/*.js (production): the worker
 * file is resolved next to this module with the same extension.
 */
export class ReplicaPool {
  private readonly replicas: Replica[] = [];
  private readonly queue: Pending[] = [];
  private nextBatchId = 1;
  private restarts = 0;
  private disposed?: Promise<void>;
  private nextIndex = 0;
  /** Replicas being started (initial extras and replacements). */
  private starting = 0;

  private constructor(
    private readonly opts: Required<Omit<ReplicaPoolOptions, 'backend' | 'workers'>> & { backend?: string },
    /** What the first replica reported: model id, backend, preprocessing. */
    readonly info: ReplicaInfo,
  ) {}

  /** Starts the replicas and resolves once all are loaded and warm; rejects if the first fails to load. */
  static async start(options: ReplicaPoolOptions): Promise<ReplicaPool> {
    const opts = { warmUp: true, maxRestarts: 10, coalesceUpTo: 0, ...options };
    if (options.workers !== undefined && (!Number.isInteger(options.workers) || options.workers < 1)) {
      throw new RangeError(`workers (${options.workers}) must be a positive integer`);
    }
    // Replicas asked for by number share a native backend's cores (the default count, one replica
    // there, keeps them all). Effective only before this process first loads TensorFlow.
    if (options.workers !== undefined) shareCoresAmong(options.workers);
    const first = spawn(opts, 0);
    let info: ReplicaInfo;
    try {
      info = await first.ready;
    } catch (e) {
      await first.worker.terminate();
      throw e;
    }
    const pool = new ReplicaPool(opts, info);
    pool.nextIndex = 1;
    pool.adopt(first.worker, 0, first.memory);
    const wanted = options.workers ?? replicasFor(info);
    const others = Array.from({ length: wanted - 1 }, () => pool.add());
    await Promise.all(others);
    return pool;
  }

  /** Number of live replicas. */
  get size(): number {
    return this.replicas.length;
  }

  /** True once every replica is loaded and warm. */
  get warm(): boolean {
    return this.replicas.length > 0 && this.replicas.every((r) => r.ready);
  }

  /** Batches waiting for an idle replica. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Replicas currently running a batch. */
  get busy(): number {
    return this.replicas.filter((r) => r.current).length;
  }

  /** Replicas replaced after a crash so far. */
  get restartCount(): number {
    return this.restarts;
  }

  /** Live tensors and bytes summed over replicas, as each last reported after a batch. */
  memory(): { numTensors: number; numBytes: number; perReplica: number[] } {
    return {
      numTensors: this.replicas.reduce((s, r) => s + r.memory.numTensors, 0),
      numBytes: this.replicas.reduce((s, r) => s + r.memory.numBytes, 0),
      perReplica: this.replicas.map((r) => r.memory.numTensors),
    };
  }

  /**
   * Captions one batch on the next idle replica. The pixel buffers are transferred (the caller's
   * arrays become detached). Rejects with ReplicaCrashError if the replica dies, or with the
   * replica's error message if captioning throws.
   */
  run(images: PreparedImage[], beam: CaptionOptions): Promise<BatchOutput> {
    if (this.disposed) return Promise.reject(new ReplicaCrashError('replica pool is disposed', -1));
    if (this.replicas.length === 0 && this.starting === 0) {
      return Promise.reject(new ReplicaCrashError(`no replica is running (all crashed; ${this.restarts} replacements used)`, -1));
    }
    return new Promise<BatchOutput>((resolve, reject) => {
      this.queue.push({ images, beam, queuedAt: performance.now(), resolve, reject });
      this.dispatch();
    });
  }

  /** Fault injection for tests and chaos drills: terminates a replica as a crash would. */
  async killReplica(index = 0): Promise<void> {
    const r = this.replicas[index];
    if (r) await r.worker.terminate();
  }

  /**
   * The beam options every batch of a service will use, checked once against the loaded model: a
   * service asked to re-rank with a word detector its model lacks fails at start (pool disposed), not
   * on every batch.
   */
  async serviceBeam(beamSize: number, detectorRerank: number | undefined): Promise<CaptionOptions> {
    if (detectorRerank !== undefined && detectorRerank > 0 && !this.info.wordDetector) {
      await this.dispose();
      throw new RangeError(`detectorRerank ${detectorRerank}: model ${this.info.modelId} has no word detector (config.wordDetector) to re-rank with; use 0`);
    }
    // An absent detectorRerank lets each replica's model decide (on when it has a word detector).
    return { beamSize, maxSteps: 50, returnAlternatives: Math.min(3, beamSize), detectorRerank };
  }

  /** Terminates every replica; queued and running batches reject. Idempotent. */
  dispose(): Promise<void> {
    return (this.disposed ??= (async () => {
      for (const p of this.queue.splice(0)) p.reject(new ReplicaCrashError('replica pool disposed before the batch ran', -1));
      const all = this.replicas.splice(0);
      for (const r of all) for (const p of r.current?.group ?? []) p.reject(new ReplicaCrashError('replica pool disposed mid-batch', r.index));
      await Promise.all(all.map((r) => r.worker.terminate()));
    })());
  }

  private async add(): Promise<void> {
    const index = this.nextIndex++;
    const s = spawn(this.opts, index);
    this.starting++;
    try {
      await s.ready;
    } finally {
      this.starting--;
    }
    if (this.disposed) {
      await s.worker.terminate();
      return;
    }
    this.adopt(s.worker, index, s.memory);
  }

  private adopt(worker: Worker, index: number, memory: { numTensors: number; numBytes: number }): void {
    const replica: Replica = { index, worker, ready: true, memory: { ...memory } };
    this.replicas.push(replica);
    worker.on('message', (msg: FromReplica) => this.onMessage(replica, msg));
    const die = (why: string): void => this.onDeath(replica, why);
    worker.on('error', (e) => die(`replica ${index} crashed: ${e.message}`));
    worker.on('exit', (code) => die(`replica ${index} exited with code ${code}`));
    this.dispatch();
  }

  private onMessage(replica: Replica, msg: FromReplica): void {
    const cur = replica.current;
    if ((msg.type !== 'result' && msg.type !== 'error') || !cur || cur.batchId !== msg.batchId) return;
    replica.current = undefined;
    if (msg.type === 'result') {
      replica.memory = msg.memory;
      let offset = 0;
      for (const p of cur.group) {
        p.resolve({
          captions: msg.captions.slice(offset, offset + p.images.length),
          modelMs: msg.modelMs,
          waitMs: cur.startedAt - p.queuedAt,
          replica: replica.index,
          modelBatchSize: msg.captions.length,
          memory: msg.memory,
        });
        offset += p.images.length;
      }
    } else {
      for (const p of cur.group) p.reject(new Error(`replica ${replica.index}: ${msg.message}`));
    }
    this.dispatch();
  }

  private onDeath(replica: Replica, why: string): void {
    const i = this.replicas.indexOf(replica);
    if (i < 0) return;
    this.replicas.splice(i, 1);
    for (const p of replica.current?.group ?? []) p.reject(new ReplicaCrashError(why, replica.index));
    replica.current = undefined;
    if (this.disposed) return;
    if (this.restarts >= this.opts.maxRestarts) {
      if (this.replicas.length === 0) {
        for (const p of this.queue.splice(0)) p.reject(new ReplicaCrashError(`no replica left: ${why}`, -1));
      }
      return;
    }
    this.restarts++;
    this.add().catch((e: unknown) => {
      if (this.replicas.length === 0) {
        for (const p of this.queue.splice(0)) p.reject(new ReplicaCrashError(`replacement replica failed: ${(e as Error).message}`, -1));
      }
    });
  }

  private dispatch(): void {
    for (const r of this.replicas) {
      if (this.queue.length === 0) return;
      if (r.current || !r.ready) continue;
      const group = [this.queue.shift()!];
      let size = group[0]!.images.length;
      const beamKey = JSON.stringify(group[0]!.beam);
      const limit = typeof this.opts.coalesceUpTo === 'function' ? this.opts.coalesceUpTo(this.replicas.length) : this.opts.coalesceUpTo;
      for (let next = this.queue[0]; next && size + next.images.length <= limit && JSON.stringify(next.beam) === beamKey; next = this.queue[0]) {
        group.push(this.queue.shift()!);
        size += next.images.length;
      }
      const images = group.flatMap((p) => p.images);
      const batchId = this.nextBatchId++;
      r.current = { batchId, group, startedAt: performance.now() };
      const msg: ToReplica = { type: 'run', batchId, images, beam: group[0]!.beam };
      const transfer = [...new Set(images.map((im) => im.pixels.buffer as ArrayBuffer))];
      r.worker.postMessage(msg, transfer);
    }
  }
}

/** Starts one worker; `ready` settles with its info once loaded, or rejects with why it failed. */
function spawn(opts: { modelDir: string; backend?: string; warmUp: boolean }, index: number): { worker: Worker; ready: Promise<ReplicaInfo>; memory: { numTensors: number; numBytes: number } } {
  const memory = { numTensors: 0, numBytes: 0 };
  const init: ReplicaInit = { modelDir: opts.modelDir, backend: opts.backend, warmUp: opts.warmUp };
  const worker = startWorker(import.meta.url, 'replica-worker', { workerData: init, name: `replica-${index}` });
  const ready = workerStarted(worker, `Replica ${index}`, (msg: FromReplica): StartupVerdict<ReplicaInfo> => {
    if (msg.type === 'ready') {
      Object.assign(memory, msg.memory);
      return { value: msg.info };
    }
    if (msg.type === 'init-failed') {
      void worker.terminate();
      return { error: msg.message };
    }
    return undefined;
  });
  return { worker, ready, memory };
}

/**
 * The services' merge rule for ReplicaPoolOptions.coalesceUpTo: a lone replica merges up to four
 * waiting batches into one model call (no other replica shares its queue, and a bigger call spreads
 * the fixed cost of every decoder step over more images); with several replicas each takes one batch,
 * so none idles while another holds the whole queue.
 */
export function coalesceLimit(maxBatch: number): (replicas: number) => number {
  return (replicas) => (replicas === 1 ? 4 * maxBatch : maxBatch);
}
