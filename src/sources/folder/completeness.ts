import { lstat, open, realpath, stat } from 'node:fs/promises';
import { relative, sep } from 'node:path';

/**
 * When is a file in the inbox complete? Writers (network copies, cameras, scanners) pause mid-file,
 * so "size unchanged for a moment" alone is not enough. A file is taken when:
 *  1. it is a regular file (a symlink is refused with a reason: it could point anywhere), and
 *  2. its size and mtime have been unchanged for `stabilityMs`, and
 *  3. where the format has a cheap end-of-file check, the check passes: JPEG ends with EOI, PNG with
 *     IEND, GIF with its trailer, WebP's RIFF length and AVIF/HEIF's top-level boxes are all present.
 * A file failing 3 keeps waiting while it changes, and is taken anyway (to fail with the decoder's
 * reason) only once it has been unchanged for `incompleteGraceMs`: truly broken files still end in
 * failed/, while a writer pausing for seconds does not lose its file. Formats without such a check
 * (TIFF) rely on 2 and on the retry of failed files that change afterwards (see the folder source).
 */
export type Readiness =
  | { state: 'ready'; size: number; mtimeMs: number }
  | { state: 'wait' }
  | { state: 'gone' }
  | { state: 'incomplete'; unchangedMs: number }
  | { state: 'refused'; message: string };

/** Checks one inbox path. */
export async function readiness(file: string, inbox: string, stabilityMs: number): Promise<Readiness> {
  const link = await lstat(file).catch(() => undefined);
  if (!link) return { state: 'gone' };
  if (link.isSymbolicLink()) return { state: 'refused', message: await symlinkMessage(file, inbox) };
  if (!link.isFile()) return { state: 'gone' };
  const unchangedMs = Date.now() - link.mtimeMs;
  if (unchangedMs < stabilityMs) return { state: 'wait' };
  const complete = await endsComplete(file, link.size).catch(() => false);
  const after = await stat(file).catch(() => undefined);
  if (!after) return { state: 'gone' };
  if (after.size !== link.size || after.mtimeMs !== link.mtimeMs) return { state: 'wait' };
  return complete ? { state: 'ready', size: after.size, mtimeMs: after.mtimeMs } : { state: 'incomplete', unchangedMs };
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

/**
 * Whether the file's format says it is complete. Unknown formats and TIFF (no cheap check): true.
 * Exported for tests.
 */
export async function endsComplete(file: string, size: number): Promise<boolean> {
  if (size < 12) return false;
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(size, 32));
    await fh.read(head, 0, head.length, 0);
    const tailLen = Math.min(size, 64);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    if (head[0] === 0xff && head[1] === 0xd8) {
      // Cameras and editors may append padding after EOI; 64 bytes of slack covers the usual cases.
      return tail.includes(Buffer.from([0xff, 0xd9]));
    }
    if (head.subarray(1, 4).toString('latin1') === 'PNG') return tail.includes('IEND');
    if (head.subarray(0, 3).toString('latin1') === 'GIF') return tail[tailLen - 1] === 0x3b;
    if (head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP') {
      return size >= head.readUInt32LE(4) + 8;
    }
    if (head.subarray(4, 8).toString('latin1') === 'ftyp') return await boxesComplete(fh, size);
    return true;
  } finally {
    await fh.close();
  }
}

/** ISO-BMFF (AVIF, HEIF): the top-level boxes must end exactly at the end of the file. */
async function boxesComplete(fh: Awaited<ReturnType<typeof open>>, size: number): Promise<boolean> {
  const h = Buffer.alloc(16);
  let at = 0;
  let sawMdat = false;
  while (at < size) {
    if (size - at < 8) return false;
    await fh.read(h, 0, 16, at);
    let len = h.readUInt32BE(0);
    if (h.subarray(4, 8).toString('latin1') === 'mdat') sawMdat = true;
    if (len === 0) return sawMdat; // the last box runs to the end of the file
    if (len === 1) len = Number(h.readBigUInt64BE(8));
    if (len < 8) return false;
    at += len;
  }
  return at === size && sawMdat;
}
