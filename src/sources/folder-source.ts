import { mkdir, open, readdir, rename, stat } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { watch, type FSWatcher } from 'chokidar';
import { Observable, type Subscriber } from 'rxjs';
import sharp from 'sharp';
import { settleOnce, type FailureReason, type Job } from './job.js';
import { writeFileAtomic } from '../io/write-file-atomic.js';

/**
 * A watched folder as a source of caption jobs, with exactly-once outcomes across crashes.
 *
 * ## Exactly once: the folder is the journal
 * Every state change of an input is one atomic `rename` within the same file system:
 * ```
 * DIR/x.jpg --claim--> DIR/.processing/<id> --ack--> DIR/processed/<id>
 *                                           --fail-> DIR/failed/<id> (+ failed/<id>.error.json first)
 * ```
 * A file is claimed (moved into .processing) before its job is emitted, so the inbox only ever holds
 * untouched files. The sink writes the result (temp + rename) BEFORE `ack()` moves the input, and
 * `fail()` writes the error record before moving the input. After a crash (even kill -9) the only
 * ambiguous files are those left in .processing/; at start each is resolved: a result already written
 * (`hasResult(id)`) or an error record present means the outcome happened and only the move is
 * redone; otherwise the job is emitted again. So each input gets exactly one result or one error
 * record, and a file is never captioned twice once its result is durable.
 *
 * ## Backpressure: credits at the source
 * Jobs emitted minus jobs settled stays at most `highWater`. Above it the source stops claiming:
 * new paths queue as strings (cheap) in the inbox, while decoded images and tensors downstream are
 * bounded by the credit window. Settling a job returns its credit and resumes claiming.
 *
 * ## Readiness
 * chokidar's awaitWriteFinish reports a file once its size stopped changing; we check again
 * ourselves: the modification time must be at least `stabilityMs` old, the header must decode
 * (sharp metadata) and a JPEG/PNG/GIF must end with its end marker. A file failing the last two is
 * re-checked `maxHeaderRetries` times, `stabilityMs` apart (a writer may have paused), and then
 * claimed anyway, so it ends in failed/ with the decoder's reason instead of blocking the inbox.
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
  /** How long a file's size and mtime must be unchanged before it is taken (ms, default 300). */
  stabilityMs?: number;
  /** Re-checks of an undecodable header or missing end marker before the file is claimed anyway (default 3). */
  maxHeaderRetries?: number;
  /** Tells recovery whether a job's result is already durable (e.g. the files sink's JSON exists). */
  hasResult?: (id: string) => Promise<boolean>;
  /** Directories under `dir` to ignore besides the service's own (e.g. an --out inside the inbox). */
  ignore?: string[];
  /**
   * Also list the inbox this often (ms, default 5000; 0 disables). A safety net: watcher events can
   * be missed (a file created in a just-made subfolder under load, network file systems), and a
   * file the watcher never reported would otherwise wait until the next restart.
   */
  rescanMs?: number;
}

export const DEFAULT_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'gif', 'tif', 'tiff', 'avif'];

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

/** The service's own folders under the inbox. */
export function folderLayout(dir: string): { processing: string; processed: string; failed: string } {
  return { processing: join(dir, '.processing'), processed: join(dir, 'processed'), failed: join(dir, 'failed') };
}

/** Creates a folder source; nothing happens until `jobs$` is subscribed. */
export function createFolderSource(options: FolderSourceOptions): FolderSource {
  const dir = resolve(options.dir);
  const {
    recursive = false,
    extensions = DEFAULT_EXTENSIONS,
    highWater = 64,
    stabilityMs = 300,
    maxHeaderRetries = 3,
    hasResult = async () => false,
    rescanMs = 5000,
  } = options;
  if (!Number.isInteger(highWater) || highWater < 1) {
    throw new RangeError(`Folder source highWater (${highWater}) must be a positive integer`);
  }
  const exts = new Set(extensions.map((e) => e.replace(/^\./, '').toLowerCase()));
  const layout = folderLayout(dir);
  const ignoredDirs = [layout.processing, layout.processed, layout.failed, ...(options.ignore ?? []).map((d) => resolve(d))];

  const queue: string[] = [];
  const known = new Set<string>();
  const headerRetries = new Map<string, number>();
  const counts = { claimed: 0, acked: 0, failed: 0, recovered: 0 };
  let inFlight = 0;
  let pumping = false;
  let closing = false;
  let watcher: FSWatcher | undefined;
  let subscriber: Subscriber<Job> | undefined;
  let resolveReady!: () => void;
  let rejectReady!: (e: unknown) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => undefined);
  const timers = new Set<NodeJS.Timeout>();

  const isIgnored = (p: string): boolean => {
    const abs = resolve(p);
    if (ignoredDirs.some((d) => abs === d || abs.startsWith(d + sep))) return true;
    return relative(dir, abs).split(sep).some((part) => part.startsWith('.'));
  };
  const wanted = (p: string): boolean => exts.has(extname(p).slice(1).toLowerCase()) && !isIgnored(p);

  const enqueue = (p: string): void => {
    if (closing || known.has(p) || !wanted(p)) return;
    known.add(p);
    queue.push(p);
    void pump();
  };

  /** Enqueues every wanted file under the inbox (known paths are skipped by enqueue). */
  const rescan = async (from = dir, depth = 0): Promise<void> => {
    let entries;
    try {
      entries = await readdir(from, { withFileTypes: true });
    } catch {
      return; // a subfolder removed meanwhile
    }
    for (const e of entries) {
      const p = join(from, e.name);
      if (e.isFile()) enqueue(p);
      else if (e.isDirectory() && recursive && !isIgnored(p)) await rescan(p, depth + 1);
    }
  };

  const later = (fn: () => void, ms: number): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const makeJob = (id: string, file: string, receivedAt: number): Job => {
    const processingPath = join(layout.processing, id);
    const settle = (): void => {
      inFlight--;
      void pump();
    };
    const { ack, fail } = settleOnce(
      async () => {
        try {
          await rename(processingPath, join(layout.processed, id));
          counts.acked++;
        } finally {
          settle();
        }
      },
      async (reason: FailureReason, message: string) => {
        try {
          const record = { id, file, reason, message, failedAt: new Date().toISOString() };
          await writeFileAtomic(join(layout.failed, `${id}.error.json`), JSON.stringify(record, null, 2) + '\n');
          await rename(processingPath, join(layout.failed, id));
          counts.failed++;
        } finally {
          settle();
        }
      },
    );
    return { id, path: processingPath, source: file, receivedAt, ack, fail };
  };

  const emit = (id: string, file: string): void => {
    inFlight++;
    counts.claimed++;
    subscriber?.next(makeJob(id, file, performance.now()));
  };

  /** Resolves what a previous run left in .processing/ (see the module comment). */
  const recover = async (): Promise<void> => {
    for (const id of (await readdir(layout.processing)).sort()) {
      if (await hasResult(id)) {
        await rename(join(layout.processing, id), join(layout.processed, id));
        counts.recovered++;
      } else if (await exists(join(layout.failed, `${id}.error.json`))) {
        await rename(join(layout.processing, id), join(layout.failed, id));
        counts.recovered++;
      } else {
        counts.recovered++;
        emit(id, id);
      }
    }
  };

  const uniqueId = async (file: string): Promise<string> => {
    const flat = relative(dir, file).split(sep).join('__');
    const ext = extname(flat);
    const stem = flat.slice(0, flat.length - ext.length);
    for (let n = 1; ; n++) {
      const id = n === 1 ? flat : `${stem}-${n}${ext}`;
      const taken = await Promise.all(
        [join(layout.processing, id), join(layout.processed, id), join(layout.failed, id)].map(exists),
      );
      if (!taken.some(Boolean)) return id;
    }
  };

  const readiness = async (file: string): Promise<'ready' | 'wait' | 'gone' | 'undecodable'> => {
    const before = await stat(file).catch(() => undefined);
    if (!before?.isFile()) return 'gone';
    if (Date.now() - before.mtimeMs < stabilityMs) return 'wait';
    const header = await sharp(file)
      .metadata()
      .then(async (m) => endsComplete(file, m.format, before.size))
      .catch(() => false);
    const after = await stat(file).catch(() => undefined);
    if (!after) return 'gone';
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) return 'wait';
    return header ? 'ready' : 'undecodable';
  };

  /** Claims queued files while credit remains; one loop at a time so ids and credits never race. */
  const pump = async (): Promise<void> => {
    if (pumping) return;
    pumping = true;
    try {
      while (!closing && inFlight < highWater && queue.length > 0) {
        const file = queue.shift()!;
        const state = await readiness(file);
        if (state === 'gone') {
          known.delete(file);
          headerRetries.delete(file);
          continue;
        }
        const tries = headerRetries.get(file) ?? 0;
        if (state === 'wait' || (state === 'undecodable' && tries < maxHeaderRetries)) {
          if (state === 'undecodable') headerRetries.set(file, tries + 1);
          later(() => {
            if (closing) return;
            queue.push(file);
            void pump();
          }, stabilityMs);
          continue;
        }
        const id = await uniqueId(file);
        try {
          await rename(file, join(layout.processing, id));
        } catch {
          // The file vanished between the check and the claim (moved away by the user): not ours.
          known.delete(file);
          continue;
        }
        known.delete(file);
        headerRetries.delete(file);
        emit(id, relative(dir, file));
      }
    } catch (e) {
      subscriber?.error(e);
    } finally {
      pumping = false;
      if (closing) subscriber?.complete();
    }
  };

  const stopWatching = async (): Promise<void> => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    const w = watcher;
    watcher = undefined;
    await w?.close();
  };

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      closing = true;
      await stopWatching();
      if (!pumping) subscriber?.complete();
    })());

  const jobs$ = new Observable<Job>((sub) => {
    if (subscriber) {
      sub.error(new Error(`Folder source for ${dir} is already subscribed; subscribe once`));
      return;
    }
    subscriber = sub;
    (async () => {
      await mkdir(dir, { recursive: true });
      for (const d of [layout.processing, layout.processed, layout.failed]) await mkdir(d, { recursive: true });
      await recover();
      if (closing) return;
      const w = watch(dir, {
        ignoreInitial: false,
        depth: recursive ? undefined : 0,
        awaitWriteFinish: { stabilityThreshold: stabilityMs, pollInterval: Math.max(20, Math.round(stabilityMs / 5)) },
        ignored: (p, stats) => p !== dir && (isIgnored(p) || (!!stats?.isFile() && !wanted(p))),
      });
      watcher = w;
      w.on('add', (p) => enqueue(p));
      w.on('change', (p) => enqueue(p));
      w.on('error', (e) => sub.error(e));
      await new Promise<void>((res) => w.once('ready', () => res()));
      if (rescanMs > 0) {
        const tick = (): void => later(() => void rescan().finally(() => !closing && tick()), rescanMs);
        tick();
      }
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

/**
 * Whether a JPEG, PNG or GIF has its end marker (JPEG EOI within the last bytes, PNG IEND, GIF
 * trailer): a header that decodes only proves the start arrived, and a writer pausing longer than
 * `stabilityMs` would otherwise hand us half a file. Other formats have no cheap check: true.
 */
async function endsComplete(file: string, format: string | undefined, size: number): Promise<boolean> {
  if (format !== 'jpeg' && format !== 'png' && format !== 'gif') return true;
  const n = Math.min(size, 64);
  const tail = Buffer.alloc(n);
  const fh = await open(file, 'r');
  try {
    await fh.read(tail, 0, n, size - n);
  } finally {
    await fh.close();
  }
  if (format === 'png') return tail.includes('IEND');
  if (format === 'gif') return tail[n - 1] === 0x3b;
  // Cameras and editors may append padding after EOI; 64 bytes of slack covers the usual cases.
  return tail.includes(Buffer.from([0xff, 0xd9]));
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

