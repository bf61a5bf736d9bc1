import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, realpath, type FileHandle } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { hashOpenFile } from './journal.js';

/**
 * When is a file in the inbox complete? Writers (network copies, cameras, scanners) pause mid-file,
 * so "unchanged for a moment" alone is not enough. A file is taken when:
 *  1. it is a regular file (a symlink is refused with a reason: it could point anywhere), and
 *  2. its mtime is at least `stabilityMs` old and its size and mtime do not change while it is read, and
 *  3. where the format has a cheap end-of-file check, the check passes: JPEG ends with EOI, PNG with
 *     IEND, GIF with its trailer, WebP's RIFF length and AVIF/HEIF's top-level boxes are all present.
 * A file failing 3 keeps waiting while it changes, and is taken anyway (to fail with the decoder's
 * reason) only once it has been unchanged for `incompleteGraceMs`: truly broken files still end in
 * failed/, while a writer pausing for seconds does not lose its file. Formats without such a check
 * (TIFF) rely on 2 and on the retry of failed files that change afterwards (see the folder source).
 *
 * The check reads the file once, through one descriptor opened without following links: the same
 * read gives the content hash of the journal's id and, for files up to KEEP_BYTES_UP_TO, the bytes
 * the decoder needs, so a file dropped into the inbox costs a handful of system calls, not three
 * separate passes.
 */
export type Readiness =
  | { state: 'ready'; hash: string; bytes?: Buffer }
  | { state: 'wait'; retryInMs: number }
  | { state: 'gone' }
  | { state: 'refused'; message: string };

export interface ReadinessOptions {
  /** How old the file's mtime must be, ms. */
  stabilityMs: number;
  /** How long a file whose format says it is incomplete waits unchanged before it is taken anyway, ms. */
  incompleteGraceMs: number;
}

/**
 * Files up to this size keep their bytes from the check to the decoder. A folder source holds at
 * most `highWater` jobs, so this bounds the memory those bytes take; larger files are re-read.
 */
export const KEEP_BYTES_UP_TO = 8 * 2 ** 20;

/** Checks one inbox path; a ready file comes with its SHA-256 (hex) and, when small enough, its bytes. */
export async function readiness(file: string, inbox: string, o: ReadinessOptions): Promise<Readiness> {
  // Where the platform cannot refuse links at open (O_NOFOLLOW), ask first.
  if (!constants.O_NOFOLLOW && (await lstat(file).catch(() => undefined))?.isSymbolicLink()) {
    return { state: 'refused', message: await symlinkMessage(file, inbox) };
  }
  let fh: FileHandle;
  try {
    fh = await open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EMLINK') return { state: 'refused', message: await symlinkMessage(file, inbox) };
    return { state: 'gone' };
  }
  try {
    const before = await fh.stat();
    if (!before.isFile()) return { state: 'gone' };
    const unchangedMs = Date.now() - before.mtimeMs;
    if (unchangedMs < o.stabilityMs) return { state: 'wait', retryInMs: o.stabilityMs - unchangedMs };
    const size = before.size;
    // The end check reads a few bytes: a file still arriving is not read whole on every retry.
    const complete = await formatComplete(fh, size).catch(() => false);
    if (!complete && unchangedMs < o.incompleteGraceMs) return { state: 'wait', retryInMs: o.stabilityMs };
    const bytes = size <= KEEP_BYTES_UP_TO ? await fh.readFile() : undefined;
    const hash = bytes ? createHash('sha256').update(bytes).digest('hex') : await hashOpenFile(fh);
    const after = await fh.stat();
    if (after.size !== size || after.mtimeMs !== before.mtimeMs || (bytes && bytes.length !== size)) {
      return { state: 'wait', retryInMs: o.stabilityMs };
    }
    return { state: 'ready', hash, bytes };
  } catch {
    return { state: 'gone' }; // unreadable or removed while read
  } finally {
    await fh.close();
  }
}

async function symlinkMessage(file: string, inbox: string): Promise<string> {
  const target = await realpath(file).catch(() => undefined);
  const root = await realpath(inbox).catch(() => inbox);
  if (target === undefined) return `${file} is a symbolic link to nothing; put the image itself in the inbox`;
  const rel = relative(root, target);
  if (rel.startsWith('..' + sep) || rel === '..' || rel.startsWith(sep)) {
    return `${file} is a symbolic link to ${target}, outside the inbox ${root}; the folder source reads only files inside it (copy the image in instead)`;
  }
  return `${file} is a symbolic link to ${target}; the folder source takes regular files only (that file is taken by itself)`;
}

/** `length` bytes of the file at `position` (fewer at its end). */
async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const b = Buffer.alloc(length);
  const { bytesRead } = await fh.read(b, 0, length, position);
  return b.subarray(0, bytesRead);
}

/**
 * Whether the file's format says it is complete. Unknown formats and TIFF (no cheap check): true.
 * Exported for tests.
 */
export async function endsComplete(file: string, size: number): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    return await formatComplete(fh, size);
  } finally {
    await fh.close();
  }
}

async function formatComplete(fh: FileHandle, size: number): Promise<boolean> {
  if (size < 12) return false;
  const head = await readAt(fh, 0, Math.min(size, 32));
  const tailLen = Math.min(size, 64);
  const tail = await readAt(fh, size - tailLen, tailLen);
  if (head[0] === 0xff && head[1] === 0xd8) {
    // Cameras and editors may append padding after EOI; 64 bytes of slack covers the usual cases.
    return tail.includes(Buffer.from([0xff, 0xd9]));
  }
  if (head.subarray(1, 4).toString('latin1') === 'PNG') return tail.includes('IEND');
  if (head.subarray(0, 3).toString('latin1') === 'GIF') return tail[tail.length - 1] === 0x3b;
  if (head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP') {
    return size >= head.readUInt32LE(4) + 8;
  }
  if (head.subarray(4, 8).toString('latin1') === 'ftyp') return await boxesComplete(fh, size);
  return true;
}

/** ISO-BMFF (AVIF, HEIF): the top-level boxes must end exactly at the end of the file. */
async function boxesComplete(fh: FileHandle, size: number): Promise<boolean> {
  let at = 0;
  let sawMdat = false;
  while (at < size) {
    if (size - at < 8) return false;
    const h = await readAt(fh, at, 16);
    let len = h.readUInt32BE(0);
    if (h.subarray(4, 8).toString('latin1') === 'mdat') sawMdat = true;
    if (len === 0) return sawMdat; // the last box runs to the end of the file
    if (len === 1) {
      if (h.length < 16) return false;
      len = Number(h.readBigUInt64BE(8));
    }
    if (len < 8) return false;
    at += len;
  }
  return at === size && sawMdat;
}
