import { extname, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Observable, type Subscriber } from 'rxjs';
import { readiness } from './folder/completeness.js';
import { FailedWatch } from './folder/failed-watch.js';
import { InboxWatcher } from './folder/inbox-watcher.js';
import { exists, folderLayout, FolderJournal, stripHash } from './folder/journal.js';
import { settleOnce, type FailureReason, type Job } from './job.js';

export { folderLayout } from './folder/journal.js';

/**
 * A watched folder as a source of caption jobs, with exactly-once outcomes across crashes.
 *
 * - Journal (folder/journal.ts): inputs move inbox -> .processing -> processed | failed by rename;
 *   ids carry a content hash, so a result belongs to exactly one input; recovery after kill -9.
 * - Completeness (folder/completeness.ts): a file is taken when it is stable and, where the format
 *   allows, ends properly; symlinks are refused with a reason.
 * - Watching (folder/inbox-watcher.ts): chokidar plus a periodic listing.
 * - Second chances (folder/failed-watch.ts): a file that failed to decode and then changes (its
 *   writer had only paused) is put back into the inbox and tried again.
 *
 * Backpressure: jobs emitted minus jobs settled stays at most `highWater`. Above it the source stops
 * claiming: new paths queue as strings (cheap) in the inbox, while decoded images and tensors
 * downstream are bounded by the credit window. Settling a job returns its credit.
 */
export interface FolderSourceOptions {
  /** The inbox. */
  dir: string;
  /** Watch subdirectories too (default false). processed/, failed/ and dot-folders are never watched. */
  recursive?: boolean;
  /** Lower-case extensions without the dot (default jpg, jpeg, png, webp, gif, tif, tiff, avif). */
  extensions?: string[];
  /** Maximum jobs emitted and not yet settled (default 64). */
  highWater?: number;
  /** How old a file's mtime must be before it is taken (ms, default 1000): its writer has been quiet this long. */
  stabilityMs?: number;
  /**
   * A file whose format says it is incomplete (no end marker) is taken anyway, to fail with the
   * decoder's reason, once unchanged this long (ms, default 10000).
   */
  incompleteGraceMs?: number;
  /** How long a file that failed to decode is watched for changes that earn it another try (ms, default 120000; 0 disables). */
  retryFailedWithinMs?: number;
  /** Tells the journal whether a job id's result is durable (e.g. the files sink's JSON exists). */
  hasResult?: (id: string) => Promise<boolean>;
  /** Directories under `dir` to ignore besides the service's own (e.g. an --out inside the inbox). */
  ignore?: string[];
  /** Also list the inbox this often (ms, default 5000; 0 disables): see InboxWatcher. */
  rescanMs?: number;
  /** Told about inputs refused without a job (symlinks), with the reason. */
  onRefused?: (file: string, message: string) => void;
}

/** Inbox files checked at once (see pump). */
const CHECKS_AT_ONCE = 8;

export const DEFAULT_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'tif', 'tiff', 'avif'];

/** Decode failures that a file still being written would also produce: worth another try if it changes. */
const RETRYABLE: ReadonlySet<FailureReason> = new Set(['corrupt', 'empty', 'unsupported']);

/** Counters of a folder source, for /metrics and stats messages. */
export interface FolderSourceStats {
  /** Paths seen but not yet claimed. */
  queued: number;
  /** Jobs emitted and not yet settled. */
  inFlight: number;
  claimed: number;
  acked: number;
  failed: number;
  recovered: number;
  /** Symlinks refused without a job. */
  refused: number;
  /** Failed files that changed afterwards and were put back into the inbox. */
  retried: number;
}

export interface FolderSource {
  /** The jobs; subscribe once. Unsubscribing stops the watcher (in-flight jobs stay in .processing). */
  readonly jobs$: Observable<Job>;
  /** Stops taking files and completes `jobs$` (queued paths stay in the inbox for next time). Idempotent. */
  close(): Promise<void>;
  stats(): FolderSourceStats;
  /** Resolves once the initial scan is done and chokidar is watching. */
  readonly ready: Promise<void>;
}

/** Creates a folder source; nothing happens until `jobs$` is subscribed. */
export function createFolderSource(options: FolderSourceOptions): FolderSource {
  const dir = resolve(options.dir);
  const {
    recursive = false,
    extensions = DEFAULT_EXTENSIONS,
    highWater = 64,
    stabilityMs = 1000,
    incompleteGraceMs = 10_000,
    retryFailedWithinMs = 120_000,
    hasResult = async () => false,
    rescanMs = 5000,
  } = options;
  if (!Number.isInteger(highWater) || highWater < 1) {
    throw new RangeError(`Folder source highWater (${highWater}) must be a positive integer`);
  }
  const layout = folderLayout(dir);
  const journal = new FolderJournal(layout, hasResult);
  const watcher = new InboxWatcher({
    dir,
    recursive,
    extensions: new Set(extensions.map((e) => e.replace(/^\./, '').toLowerCase())),
    ignoredDirs: [layout.processing, layout.processed, layout.failed, ...(options.ignore ?? []).map((d) => resolve(d))],
    rescanMs,
    onPath: (p) => enqueue(p),
    onError: (e) => subscriber?.error(e),
  });
  const failedWatch = new FailedWatch(Math.max(50, Math.min(1000, stabilityMs)), retryFailedWithinMs, (id) => retry(id));

  const queue: string[] = [];
  const known = new Set<string>();
  const counts = { claimed: 0, acked: 0, failed: 0, recovered: 0, refused: 0, retried: 0 };
  let inFlight = 0;
  /** Files being checked or claimed now. */
  let checking = 0;
  let closing = false;
  let subscriber: Subscriber<Job> | undefined;
  let resolveReady!: () => void;
  let rejectReady!: (e: unknown) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => undefined);
  const timers = new Set<NodeJS.Timeout>();

  const enqueue = (p: string): void => {
    if (closing || known.has(p)) return;
    known.add(p);
    queue.push(p);
    pump();
  };

  const later = (fn: () => void, ms: number): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const makeJob = (id: string, file: string, bytes: Buffer | undefined): Job => {
    const settle = (): void => {
      inFlight--;
      pump();
    };
    const { ack, fail } = settleOnce(
      async () => {
        try {
          await journal.ack(id);
          counts.acked++;
        } finally {
          settle();
        }
      },
      async (reason: FailureReason, message: string) => {
        try {
          await journal.fail(id, file, reason, message);
          counts.failed++;
          if (RETRYABLE.has(reason)) await failedWatch.add(id, journal.failedPath(id));
        } finally {
          settle();
        }
      },
    );
    return { id, path: journal.processingPath(id), bytes, source: file, receivedAt: performance.now(), ack, fail };
  };

  const emit = (id: string, file: string, bytes?: Buffer): void => {
    inFlight++;
    counts.claimed++;
    subscriber?.next(makeJob(id, file, bytes));
  };

  /** A failed file changed: back into the inbox under its name (or a free variant of it). */
  const retry = async (id: string): Promise<void> => {
    if (closing) return;
    const name = stripHash(id);
    const ext = extname(name);
    let to = join(dir, name);
    for (let n = 2; await exists(to); n++) to = join(dir, `${name.slice(0, name.length - ext.length)}.retry-${n}${ext}`);
    if (await journal.unfail(id, to)) {
      counts.retried++;
      counts.failed--;
    }
  };

  const retryLater = (file: string, ms: number): void =>
    later(() => {
      if (closing) return;
      queue.push(file);
      pump();
    }, ms);

  /** Checks a queued file and, when it is ready, claims it and emits its job. */
  const take = async (file: string): Promise<void> => {
    const r = await readiness(file, dir, { stabilityMs, incompleteGraceMs });
    if (r.state === 'wait') {
      retryLater(file, r.retryInMs);
      return;
    }
    known.delete(file);
    if (r.state === 'gone' || closing) return;
    if (r.state === 'refused') {
      await journal.refuse(file, 'unsupported', r.message).catch(() => undefined);
      counts.refused++;
      options.onRefused?.(relative(dir, file), r.message);
      return;
    }
    const id = await journal.claim(file, r.hash);
    if (id !== undefined) emit(id, relative(dir, file), r.bytes);
  };

  /**
   * Takes queued files while credit remains, up to CHECKS_AT_ONCE at a time: each check is a few
   * file-system round trips, so a burst of drops is checked in parallel (the journal keeps
   * concurrent claims apart). A check holds a credit, so emitted jobs never exceed highWater.
   */
  const pump = (): void => {
    while (!closing && inFlight + checking < highWater && checking < CHECKS_AT_ONCE && queue.length > 0) {
      const file = queue.shift()!;
      checking++;
      take(file)
        .catch((e: unknown) => subscriber?.error(e))
        .finally(() => {
          checking--;
          if (!closing) pump();
          else if (checking === 0) subscriber?.complete();
        });
    }
  };

  const stopWatching = async (): Promise<void> => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    failedWatch.stop();
    await watcher.stop();
  };

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      closing = true;
      await stopWatching();
      if (checking === 0) subscriber?.complete();
    })());

  const jobs$ = new Observable<Job>((sub) => {
    if (subscriber) {
      sub.error(new Error(`Folder source for ${dir} is already subscribed; subscribe once`));
      return;
    }
    subscriber = sub;
    (async () => {
      await journal.init();
      const recovered = await journal.recover();
      counts.recovered += recovered.finished + recovered.redo.length;
      for (const r of recovered.redo) emit(r.id, r.file);
      if (closing) return;
      await watcher.start();
      resolveReady();
    })().catch((e: unknown) => {
      rejectReady(e);
      sub.error(e);
    });
    return () => {
      closing = true;
      subscriber = undefined;
      void stopWatching();
    };
  });

  return {
    jobs$,
    close,
    ready,
    stats: () => ({ queued: queue.length, inFlight, ...counts }),
  };
}
