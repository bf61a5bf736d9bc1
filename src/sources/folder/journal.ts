import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { writeFileAtomic } from '../../io/write-file-atomic.js';
import type { FailureReason } from '../job.js';

/**
 * The folder is the journal of the folder source: every state change of an input is one atomic
 * `rename` within the inbox's file system.
 * ```
 * DIR/x.jpg --claim--> DIR/.processing/<id> --ack--> DIR/processed/<id>
 *                                           --fail-> DIR/failed/<id> (+ failed/<id>.error.json first)
 * ```
 * ## A result belongs to exactly one input
 * The id names the input by content as well as by name: `<stem>.<hash><ext>` where hash is the first
 * HASH_CHARS hex digits of the file's SHA-256 (x.jpg -> x.3fa2b1c9e0d1.jpg; its result is
 * captions/x.3fa2b1c9e0d1.jpg.json). A claim never takes an id that is in use in .processing/,
 * processed/ or failed/ or that already has a result (`hasResult`): the same bytes under the same
 * name again get `-2`, `-3`... So a new file with an old name never overwrites an old result (the
 * user may have emptied processed/; the results are still there), and two inputs never share one.
 *
 * ## Recovery
 * After a crash (even kill -9) only files left in .processing/ are ambiguous. For each: a result
 * present AND the file's content matching the hash in its id means the job finished and only the
 * move is redone; an error record present means it failed; otherwise the job is run again. A file
 * whose content does not match its id (an id from an older layout without the hash, or a file
 * replaced by hand) is claimed again under a fresh id, so it never inherits someone else's result.
 */
export const HASH_CHARS = 12;

export interface FolderLayout {
  dir: string;
  processing: string;
  processed: string;
  failed: string;
}

/** The service's own folders under the inbox. */
export function folderLayout(dir: string): FolderLayout {
  return { dir, processing: join(dir, '.processing'), processed: join(dir, 'processed'), failed: join(dir, 'failed') };
}

/** SHA-256 of a file's bytes, hex. */
export async function contentHash(file: string): Promise<string> {
  const fh = await open(file, 'r');
  try {
    return await hashOpenFile(fh);
  } finally {
    await fh.close();
  }
}

/** SHA-256 (hex) of what an open file holds, read in 1 MiB pieces from its start. */
export async function hashOpenFile(fh: FileHandle): Promise<string> {
  const h = createHash('sha256');
  const chunk = Buffer.alloc(2 ** 20);
  for (let at = 0; ; ) {
    const { bytesRead } = await fh.read(chunk, 0, chunk.length, at);
    if (bytesRead === 0) return h.digest('hex');
    h.update(chunk.subarray(0, bytesRead));
    at += bytesRead;
  }
}

/** `sub/x.jpg` + hash -> `sub__x.<hash>.jpg` (with `-n` before the extension for the n-th twin). */
export function contentId(relPath: string, hash: string, n = 1): string {
  const flat = relPath.split(sep).join('__');
  const ext = extname(flat);
  const stem = flat.slice(0, flat.length - ext.length);
  return `${stem}.${hash.slice(0, HASH_CHARS)}${n === 1 ? '' : `-${n}`}${ext}`;
}

/** The hash part of an id made by contentId, or undefined for other names. */
export function idHash(id: string): string | undefined {
  const ext = extname(id);
  const m = new RegExp(`\\.([0-9a-f]{${HASH_CHARS}})(?:-\\d+)?$`).exec(id.slice(0, id.length - ext.length));
  return m?.[1];
}

export interface Recovered {
  /** Jobs to run again: id in .processing and the file name to report. */
  redo: Array<{ id: string; file: string }>;
  /** Files whose outcome was already durable (moved to processed/ or failed/). */
  finished: number;
}

export class FolderJournal {
  constructor(
    readonly layout: FolderLayout,
    private readonly hasResult: (id: string) => Promise<boolean>,
  ) {}

  async init(): Promise<void> {
    for (const d of [this.layout.dir, this.layout.processing, this.layout.processed, this.layout.failed]) await mkdir(d, { recursive: true });
  }

  /** Ids handed out by freeId whose file is not in place yet: concurrent claims never share one. */
  private readonly reserved = new Set<string>();

  /**
   * A free id for an input with this relative path and content hash (see the module comment). The
   * id stays in `reserved` until its caller has moved the file in place (or failed to) and removes it.
   */
  private async freeId(relPath: string, hash: string): Promise<string> {
    for (let n = 1; ; n++) {
      const id = contentId(relPath, hash, n);
      if (this.reserved.has(id)) continue;
      this.reserved.add(id);
      const { processing, processed, failed } = this.layout;
      const taken = await Promise.all([...[processing, processed, failed].map((d) => exists(join(d, id))), this.hasResult(id)]);
      if (!taken.some(Boolean)) return id;
      this.reserved.delete(id);
    }
  }

  /**
   * Moves an inbox file into .processing under a fresh content id; undefined if it vanished
   * meanwhile. `hash` is the SHA-256 of the content the caller read (see readiness). Safe to call
   * for several files at once.
   */
  async claim(file: string, hash: string): Promise<string | undefined> {
    const id = await this.freeId(relative(this.layout.dir, file), hash);
    try {
      await rename(file, join(this.layout.processing, id));
    } catch {
      return undefined; // moved away by the user between the check and the claim: not ours
    } finally {
      this.reserved.delete(id);
    }
    return id;
  }

  processingPath(id: string): string {
    return join(this.layout.processing, id);
  }

  /** The job's result is durable: move the input to processed/. */
  async ack(id: string): Promise<void> {
    await rename(this.processingPath(id), join(this.layout.processed, id));
  }

  /** The job failed: write the error record, then move the input to failed/. */
  async fail(id: string, file: string, reason: FailureReason, message: string): Promise<void> {
    await this.writeError(id, file, reason, message);
    await rename(this.processingPath(id), join(this.layout.failed, id));
  }

  /** Refuses an inbox path without running it (a symlink): the link itself goes to failed/ with the reason. */
  async refuse(file: string, reason: FailureReason, message: string): Promise<string> {
    const rel = relative(this.layout.dir, file);
    const id = await this.freeId(rel, createHash('sha256').update(`refused:${rel}:${Date.now()}`).digest('hex'));
    try {
      await this.writeError(id, rel, reason, message);
      await rename(file, join(this.layout.failed, id));
    } finally {
      this.reserved.delete(id);
    }
    return id;
  }

  /**
   * Takes a failed input back for another try (it changed after failing, e.g. its writer had only
   * paused): moves it to `to` in the inbox and removes its error record.
   */
  async unfail(id: string, to: string): Promise<boolean> {
    try {
      await rename(join(this.layout.failed, id), to);
    } catch {
      return false;
    }
    await rm(join(this.layout.failed, `${id}.error.json`), { force: true });
    return true;
  }

  failedPath(id: string): string {
    return join(this.layout.failed, id);
  }

  /** Resolves what a previous run left in .processing/ (see the module comment). */
  async recover(): Promise<Recovered> {
    const out: Recovered = { redo: [], finished: 0 };
    for (const id of (await readdir(this.layout.processing)).sort()) {
      const path = this.processingPath(id);
      const hash = await contentHash(path).catch(() => undefined);
      if (hash === undefined) continue; // not a readable file (a directory someone made): left alone
      const matches = idHash(id) === hash.slice(0, HASH_CHARS);
      if (matches && (await this.hasResult(id))) {
        await rename(path, join(this.layout.processed, id));
        out.finished++;
      } else if (await exists(join(this.layout.failed, `${id}.error.json`))) {
        await rename(path, join(this.layout.failed, id));
        out.finished++;
      } else if (matches) {
        out.redo.push({ id, file: id });
      } else {
        const fresh = await this.freeId(stripHash(id), hash);
        try {
          await rename(path, this.processingPath(fresh));
        } finally {
          this.reserved.delete(fresh);
        }
        out.redo.push({ id: fresh, file: id });
      }
    }
    return out;
  }

  private async writeError(id: string, file: string, reason: FailureReason, message: string): Promise<void> {
    const record = { id, file, reason, message, failedAt: new Date().toISOString() };
    await writeFileAtomic(join(this.layout.failed, `${id}.error.json`), JSON.stringify(record, null, 2) + '\n');
  }
}

/** `x.<hash>-2.jpg` -> `x.jpg`; names without a hash unchanged. */
export function stripHash(id: string): string {
  const ext = extname(id);
  const stem = id.slice(0, id.length - ext.length).replace(new RegExp(`\\.[0-9a-f]{${HASH_CHARS}}(?:-\\d+)?$`), '');
  return stem + ext;
}

export async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
