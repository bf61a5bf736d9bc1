import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { PoisonRecordError } from './errors.js';

/**
 * Resolves a path named inside a Kafka record to a real file under `root`, or throws.
 *
 * The record is untrusted input: `../`, absolute paths elsewhere and symlinks pointing out of the root
 * must never make the service read a file. So the path is resolved against the root, then BOTH are
 * canonicalised with realpath (which follows every symlink) and the file must lie strictly inside the
 * real root. The caller reads the returned canonical path, not the requested one, so the file read
 * is the file checked (short of someone renaming directories inside the root in between).
 *
 * @throws PoisonRecordError reason 'path-not-allowed' (outside the root, or no root configured) or
 *   'not-found' (inside, but missing or not a regular file).
 */
export async function resolveUnderRoot(root: string | undefined, requested: string): Promise<string> {
  if (root === undefined) {
    throw new PoisonRecordError('path-not-allowed', `path reference "${requested}" rejected: the service was started without --allow-root DIR`);
  }
  if (requested.includes('\0')) throw new PoisonRecordError('path-not-allowed', 'path contains a NUL byte');
  const realRoot = await realpath(root);
  const candidate = isAbsolute(requested) ? requested : resolve(realRoot, requested);
  // A lexical pre-check first: "../../etc/passwd" is rejected without touching the file system there.
  if (!inside(resolve(root), resolve(candidate)) && !inside(realRoot, resolve(candidate))) {
    throw new PoisonRecordError('path-not-allowed', `path "${requested}" is outside the allowed root ${root}`);
  }
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    throw new PoisonRecordError('not-found', `path "${requested}" does not exist under ${root}`);
  }
  if (!inside(realRoot, real)) {
    throw new PoisonRecordError('path-not-allowed', `path "${requested}" resolves (via a symlink) outside the allowed root ${root}`);
  }
  const st = await stat(real);
  if (!st.isFile()) throw new PoisonRecordError('not-found', `path "${requested}" is not a regular file`);
  return real;
}

function inside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}
