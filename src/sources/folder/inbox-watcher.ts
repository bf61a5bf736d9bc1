import { readdir } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

export interface InboxWatcherOptions {
  dir: string;
  recursive: boolean;
  /** Lower-case extensions without the dot. */
  extensions: Set<string>;
  /** Absolute directories never reported (the service's own folders, an --out inside the inbox). */
  ignoredDirs: string[];
  /** Also list the inbox this often, ms (0: never). */
  rescanMs: number;
  /** Called for every wanted path seen (maybe more than once; the caller deduplicates). */
  onPath: (path: string) => void;
  onError: (e: unknown) => void;
}

/**
 * Reports the image files of an inbox as soon as they appear or change: chokidar events plus a
 * periodic listing, a safety net for events a watcher can miss (a file created in a just-made
 * subfolder under load, network file systems). Dot-folders and the ignored directories are never
 * reported.
 */
export class InboxWatcher {
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: InboxWatcherOptions) {}

  isIgnored(p: string): boolean {
    const abs = resolve(p);
    if (this.o.ignoredDirs.some((d) => abs === d || abs.startsWith(d + sep))) return true;
    return relative(this.o.dir, abs).split(sep).some((part) => part.startsWith('.'));
  }

  wanted(p: string): boolean {
    return this.o.extensions.has(extname(p).slice(1).toLowerCase()) && !this.isIgnored(p);
  }

  /** Starts watching; resolves after the initial scan. */
  async start(): Promise<void> {
    const { dir, recursive } = this.o;
    // No awaitWriteFinish: the folder source's readiness check decides when a file is complete
    // (mtime age, format end, unchanged while read), so an event is reported at once and a file
    // dropped whole (renamed in) is taken without waiting for chokidar's polling.
    const w = watch(dir, {
      ignoreInitial: false,
      depth: recursive ? undefined : 0,
      ignored: (p, stats) => p !== dir && (this.isIgnored(p) || (!!stats?.isFile() && !this.wanted(p))),
    });
    this.watcher = w;
    const report = (p: string): void => {
      if (!this.stopped && this.wanted(p)) this.o.onPath(p);
    };
    w.on('add', report);
    w.on('change', report);
    w.on('error', (e) => this.o.onError(e));
    await new Promise<void>((res) => w.once('ready', () => res()));
    if (this.o.rescanMs > 0) this.scheduleRescan();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const w = this.watcher;
    this.watcher = undefined;
    await w?.close();
  }

  private scheduleRescan(): void {
    this.timer = setTimeout(() => {
      void this.rescan(this.o.dir).finally(() => {
        if (!this.stopped) this.scheduleRescan();
      });
    }, this.o.rescanMs);
  }

  private async rescan(from: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(from, { withFileTypes: true });
    } catch {
      return; // a subfolder removed meanwhile
    }
    for (const e of entries) {
      if (this.stopped) return;
      const p = join(from, e.name);
      if ((e.isFile() || e.isSymbolicLink()) && this.wanted(p)) this.o.onPath(p);
      else if (e.isDirectory() && this.o.recursive && !this.isIgnored(p)) await this.rescan(p);
    }
  }
}
