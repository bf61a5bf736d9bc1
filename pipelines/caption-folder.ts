/**
 * The caption service as a dataflow:
 * ```
 * folder source (chokidar) ─┐
 * HTTP uploads ─────────────┴─> decode-images ─┬─> batch-within ─> caption-batch (replica pool) ─> to-results ─┬─> settle
 *                                              └──(failed decodes)──────────────────────────────> to-results ─┘
 * settle: files sink (JSON [+ figure]) -> feed (WebSocket) -> job.ack()   |   job.fail() -> feed
 * ```
 * `captionJobs` is the reusable middle (any Observable<Job> in, one CaptionOutcome per job out), so
 * the Kafka pipeline builds the same graph on its own source; `startCaptionFolder` wires the folder
 * service around it. Flow control: the folder source's credit window (see folder-source.ts).
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { connect, filter, merge, mergeMap, tap, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { batchWithin } from '../operators/batch-within.js';
import { captionBatch, type BatchRunner } from '../operators/caption-batch.js';
import { decodeImages, type DecodedJob, type FailedJob } from '../operators/decode-images.js';
import { toResults, type ResultMeta } from '../operators/to-results.js';
import type { PreprocessConfig } from '../src/data/types.js';
import type { BeamOptions } from '../src/model/types.js';
import { PROTOCOL_VERSION, quantiseAttention, type FeedMessage } from '../src/protocol/messages.js';
import { coalesceLimit, ReplicaPool } from '../src/runtime/replica-pool.js';
import { describeNative } from '../src/backend/index.js';
import type { CaptionOutcome, CaptionRecord } from '../src/sinks/caption-record.js';
import { checkFeedOptions, FeedServer } from '../src/sinks/feed-server.js';
import { createFilesSink, type FigureRenderer } from '../src/sinks/files-sink.js';
import { ServiceMetrics } from '../src/sinks/service-metrics.js';
import { createFolderSource, DEFAULT_EXTENSIONS, type FolderSource } from '../src/sources/folder-source.js';
import { createHttpSource } from '../src/sources/http-source.js';
import type { Job } from '../src/sources/job.js';

/** Options of the caption graph. */
export interface CaptionGraphOptions {
  /** Captions batches: a ReplicaPool (or any BatchRunner). */
  runner: BatchRunner;
  /** The model's preprocessing (ReplicaPool.info.preprocess). */
  preprocess: PreprocessConfig;
  /** Model id and backend written into every record. */
  meta: ResultMeta;
  /** Largest batch [8]. */
  maxBatch?: number;
  /** Longest wait of a batch's first item in ms [20]. */
  maxDelayMs?: number;
  /** Batches in flight at once; use the number of replicas [1]. */
  batchConcurrency?: number;
  /** Images decoded at once [4]. */
  decodeConcurrency?: number;
  /** Whether to make each image's thumbnail (decodeImages' `thumbnails`) [always]. */
  thumbnails?: () => boolean;
  /** Beam search settings [beam 3, 50 steps, 3 alternatives]. */
  beam?: BeamOptions;
  /** Scheduler of the batching timer (tests). */
  scheduler?: SchedulerLike;
  /** Called with the size of every batch sent to the runner (metrics). */
  onBatch?: (size: number) => void;
  limitInputPixels?: number;
  maxFileBytes?: number;
  /** The command-line option that raises maxFileBytes, named in too-large messages. */
  maxFileBytesOption?: string;
}

/**
 * Builds the caption graph on any job source: decode (bounded), batch (Triton semantics), caption
 * on the runner (bounded by batchConcurrency), one CaptionOutcome per job. Never errors for a bad
 * input or a failed batch (those become `{ ok: false }` outcomes); jobs are NOT settled here: the
 * consumer writes its sinks and then calls job.ack() / job.fail() (see settleOutcome).
 */
export function captionJobs(jobs$: Observable<Job>, opts: CaptionGraphOptions): Observable<CaptionOutcome> {
  const beam = opts.beam ?? { beamSize: 3, maxSteps: 50, returnAlternatives: 3 };
  const toOutcome = toResults(opts.meta);
  return jobs$.pipe(
    decodeImages({ preprocess: opts.preprocess, concurrency: opts.decodeConcurrency ?? 4, thumbnails: opts.thumbnails, limitInputPixels: opts.limitInputPixels, maxFileBytes: opts.maxFileBytes, maxFileBytesOption: opts.maxFileBytesOption }),
    connect((decoded$) =>
      merge(
        decoded$.pipe(filter((d): d is FailedJob => !d.ok)),
        decoded$.pipe(
          filter((d): d is DecodedJob => d.ok),
          batchWithin<DecodedJob>(opts.maxBatch ?? 8, opts.maxDelayMs ?? 20, opts.scheduler),
          tap((b) => opts.onBatch?.(b.length)),
          captionBatch(opts.runner, beam, opts.batchConcurrency ?? 1),
        ),
      ),
    ),
    toOutcome,
  );
}

/** The services' start-up line: model, backend (with a native backend's TensorFlow and threads), replicas. */
export function describePool(pool: ReplicaPool): string {
  const { modelId, backend, tfBackend, gpu, native } = pool.info;
  return `model ${modelId} on backend ${backend} (${tfBackend}${gpu ? ', GPU' : ''}${native ? `, ${describeNative(native)}` : ''}), ${pool.size} replica(s)`;
}

/** The feed message of an outcome: a caption (quantised attention, thumbnail data URL) or a failure. */
export function outcomeMessage(o: CaptionOutcome): FeedMessage {
  if (!o.ok) return { v: PROTOCOL_VERSION, type: 'caption.failed', ts: Date.now(), id: o.job.id, source: o.job.source, reason: o.reason, message: o.message };
  const r = o.record;
  return {
    v: PROTOCOL_VERSION,
    type: 'caption',
    ts: Date.now(),
    id: r.id,
    source: r.source,
    caption: r.caption,
    words: r.words,
    score: r.score,
    logProb: r.logProb,
    finished: r.finished,
    alternatives: r.alternatives.map((a) => ({ caption: a.caption, score: a.score })),
    gridSize: r.gridSize,
    attention: quantiseAttention(r.attention),
    thumbnail: o.thumbnail ? `data:image/jpeg;base64,${o.thumbnail.toString('base64')}` : '',
    timings: r.timings,
    modelId: r.modelId,
  };
}

/** Options of the folder caption service (the `captioner watch` command). */
export interface CaptionFolderOptions {
  /** The inbox folder. */
  dir: string;
  /** Checkpoint directory (see loadCaptioner). */
  modelDir: string;
  /** Where JSON results go [DIR/captions]. */
  outDir?: string;
  maxBatch?: number;
  maxDelayMs?: number;
  /** Model replicas [one per core on CPU backends, one on GPU]. */
  workers?: number;
  /** Backend request passed to every replica [auto]. */
  backend?: string;
  /** Feed server port; 0 picks one; null runs without a server [8080]. */
  port?: number | null;
  /** When the port is taken, serve on a free one instead of failing [false]. */
  portFallback?: boolean;
  host?: string;
  token?: string;
  /** Origins besides the feed's own whose pages may use it (FeedServerOptions.allowOrigins). */
  allowOrigins?: string[];
  /** Host names served besides loopback names and the bound address (FeedServerOptions.allowHosts). */
  allowHosts?: string[];
  /** A POST /caption must arrive within this, else 408 [30000 ms]. */
  requestTimeoutMs?: number;
  recursive?: boolean;
  extensions?: string[];
  beamSize?: number;
  /** Weight of detector re-ranking (CaptionOptions.detectorRerank; default: the model's). */
  detectorRerank?: number;
  /** Renders an attention figure per image next to its JSON (renderAttentionFigure). */
  renderFigure?: FigureRenderer;
  /** Jobs in flight at most (the source's credit window) [max(16, 4 * maxBatch * workers)]. */
  highWater?: number;
  /** How old a file's mtime must be before it is taken (its writer quiet this long), ms [1000]. */
  stabilityMs?: number;
  /** How long a file whose format says it is incomplete waits unchanged before it is taken anyway, ms [10000]. */
  incompleteGraceMs?: number;
  /** How long a file that failed to decode is watched for changes that earn it another try, ms [120000]. */
  retryFailedWithinMs?: number;
  statsIntervalMs?: number;
  /** Refuse images with more pixels than this [40 MP]. */
  limitInputPixels?: number;
  /** Refuse files larger than this many bytes [64 MiB]. */
  maxFileBytes?: number;
  /** The command-line option that raises maxFileBytes, named in too-large messages. */
  maxFileBytesOption?: string;
  /** Largest POST /caption body [20 MiB]. */
  maxBodyBytes?: number;
  /** Feed server tuning for slow clients. */
  softBufferBytes?: number;
  hardBufferBytes?: number;
  log?: (line: string) => void;
}

/** A running folder caption service. */
export interface CaptionFolderService {
  readonly pool: ReplicaPool;
  readonly source: FolderSource;
  readonly metrics: ServiceMetrics;
  /** Undefined when started with port: null. */
  readonly feed?: FeedServer;
  readonly outDir: string;
  /** Settles when the graph completes (after stop()) or errors. */
  readonly done: Promise<void>;
  /** Graceful shutdown: stop taking files, finish in-flight jobs, close clients, dispose replicas. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the folder caption service: replicas first (so a bad model fails fast), then source and feed. */
export async function startCaptionFolder(options: CaptionFolderOptions): Promise<CaptionFolderService> {
  const log = options.log ?? (() => undefined);
  if (options.port !== null) checkFeedOptions(options);
  const dir = resolve(options.dir);
  const outDir = resolve(options.outDir ?? join(dir, 'captions'));
  const maxBatch = options.maxBatch ?? 8;
  const pool = await ReplicaPool.start({ modelDir: options.modelDir, workers: options.workers, backend: options.backend, coalesceUpTo: coalesceLimit(maxBatch) });
  const info = pool.info;
  const beam = await pool.serviceBeam(options.beamSize ?? 3, options.detectorRerank);
  log(describePool(pool));
  const metrics = new ServiceMetrics();
  metrics.setBackend(info);
  const files = createFilesSink({ outDir, renderFigure: options.renderFigure });
  await mkdir(outDir, { recursive: true });
  const swept = await files.sweep();
  if (swept > 0) log(`removed ${swept} half-written temp file(s) a previous run left in ${outDir}`);
  const source = createFolderSource({
    dir,
    recursive: options.recursive,
    extensions: options.extensions ?? DEFAULT_EXTENSIONS,
    highWater: options.highWater ?? Math.max(16, 4 * maxBatch * pool.size),
    stabilityMs: options.stabilityMs,
    incompleteGraceMs: options.incompleteGraceMs,
    retryFailedWithinMs: options.retryFailedWithinMs,
    hasResult: files.hasResult,
    ignore: [outDir],
    onRefused: (file, message) => log(`refused ${file}: ${message}`),
  });
  const http = createHttpSource<CaptionRecord>();
  let feed: FeedServer | undefined;
  try {
    if (options.port !== null) {
      feed = await FeedServer.start({
        port: options.port ?? 8080,
        fallbackToFreePort: options.portFallback,
        host: options.host,
        token: options.token,
        allowOrigins: options.allowOrigins,
        allowHosts: options.allowHosts,
        requestTimeoutMs: options.requestTimeoutMs,
        warn: log,
        metrics,
        statsIntervalMs: options.statsIntervalMs,
        softBufferBytes: options.softBufferBytes,
        hardBufferBytes: options.hardBufferBytes,
        maxBodyBytes: options.maxBodyBytes,
        hello: { server: 'captioner', modelId: info.modelId, backend: info.backend, mode: 'watch' },
        isReady: () => pool.warm,
        caption: (bytes) => http.submit(bytes),
      });
      log(`dashboard: ${feed.address().url}/  (WebSocket feed, /metrics, /health/ready, POST /caption)`);
    }
  } catch (e) {
    await pool.dispose();
    throw e;
  }
  metrics.attach({
    queueDepths: () => ({ source: source.stats().queued, pool: pool.queueDepth }),
    inFlight: () => source.stats().inFlight + http.inFlight,
    tensors: () => pool.memory(),
    workers: () => pool.size,
  });

  const settle = async (o: CaptionOutcome): Promise<void> => {
    let outcome = o;
    if (o.ok && o.job.source !== 'http') {
      try {
        await files.write(o.record, o.job.path);
      } catch (e) {
        outcome = { ok: false, job: o.job, reason: 'sink-error', message: `${o.job.source}: writing the result failed: ${(e as Error).message}` };
      }
    }
    try {
      if (outcome.ok) await outcome.job.ack();
      else await outcome.job.fail(outcome.reason, outcome.message);
    } catch (e) {
      log(`could not settle ${outcome.job.source}: ${(e as Error).message}`);
    }
    metrics.outcome(outcome);
    feed?.publish(outcomeMessage(outcome));
    http.resolve(outcome.job, outcome.ok ? { ok: true, record: outcome.record } : outcome);
    if (!outcome.ok) log(`failed ${outcome.job.source}: ${outcome.reason}: ${outcome.message}`);
  };

  const jobs$ = merge(source.jobs$, http.jobs$).pipe(tap(() => metrics.jobIn()));
  let subscription: Subscription | undefined;
  const done = new Promise<void>((res, rej) => {
    subscription = captionJobs(jobs$, {
      runner: pool,
      preprocess: info.preprocess,
      meta: { modelId: info.modelId, backend: info.backend },
      maxBatch,
      maxDelayMs: options.maxDelayMs,
      // A few batches may wait at the pool so that it can merge those that formed small while busy.
      batchConcurrency: pool.size + 4,
      beam,
      thumbnails: () => feed?.wantsThumbnails ?? false,
      onBatch: (n) => metrics.batch(n),
      limitInputPixels: options.limitInputPixels,
      maxFileBytes: options.maxFileBytes,
      maxFileBytesOption: options.maxFileBytesOption,
    })
      .pipe(mergeMap(settle, 16))
      .subscribe({ error: rej, complete: res });
  });
  done.catch(() => undefined);
  try {
    await source.ready;
  } catch (e) {
    subscription?.unsubscribe();
    await feed?.close();
    await pool.dispose();
    throw e;
  }
  log(`watching ${dir}${options.recursive ? ' (recursive)' : ''}; results in ${outDir}`);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await source.close();
      http.close();
      await done.catch((e: unknown) => log(`pipeline error: ${(e as Error).message}`));
      await feed?.close();
      await pool.dispose();
    })());
  return { pool, source, metrics, feed, outDir, done, stop };
}
