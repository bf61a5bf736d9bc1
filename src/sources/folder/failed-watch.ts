import { stat } from 'node:fs/promises';

interface Watched {
  path: string;
  size: number;
  mtimeMs: number;
  until: number;
}

/**
 * Watches inputs that just failed to decode for changes. A writer that paused longer than the
 * completeness check waited (see completeness.ts) keeps writing through its open descriptor into the
 * file now in failed/; when such a file changes, `onChanged(id)` hands it back for another try, so
 * failed/ ends up holding only files that are really bad. Watching lasts `windowMs` per file and
 * is in memory only (a restart forgets it: the file then stays in failed/ with its reason).
 */
export class FailedWatch {
  private readonly watched = new Map<string, Watched>();
  private timer?: NodeJS.Timeout;
  private polling = false;

  constructor(
    private readonly pollMs: number,
    private readonly windowMs: number,
    private readonly onChanged: (id: string) => Promise<void>,
  ) {}

  /** Starts watching failed/<id> (at `path`) as it is now. */
  async add(id: string, path: string): Promise<void> {
    if (this.windowMs <= 0) return;
    const s = await stat(path).catch(() => undefined);
    if (!s) return;
    this.watched.set(id, { path, size: s.size, mtimeMs: s.mtimeMs, until: Date.now() + this.windowMs });
    this.timer ??= setInterval(() => void this.poll(), this.pollMs);
  }

  get size(): number {
    return this.watched.size;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const now = Date.now();
      for (const [id, w] of [...this.watched]) {
        const s = await stat(w.path).catch(() => undefined);
        if (!s || now > w.until) {
          this.watched.delete(id);
        } else if (s.size !== w.size || s.mtimeMs !== w.mtimeMs) {
          this.watched.delete(id);
          // A hand-back that fails (the file moved away meanwhile) leaves it in failed/ with its
          // reason; it must not reject this timer's promise, which nobody awaits.
          await this.onChanged(id).catch(() => undefined);
        }
      }
    } finally {
      this.polling = false;
      if (this.watched.size === 0) this.stop();
    }
  }
}
