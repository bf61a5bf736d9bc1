/** Fixtures of the caption service tests: a tiny random-weights checkpoint and real image files. */
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Subscription } from 'rxjs';
import { afterEach, beforeEach } from 'vitest';
import { createFolderSource, type FolderSource, type FolderSourceOptions } from '../../src/sources/folder-source.js';
import type { Job } from '../../src/sources/job.js';
import { saveTinyModel, solidImage } from '../fixtures/tiny-model.js';

/** A fresh temp directory; remove it with `rm(dir, { recursive: true, force: true })`. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `captioner-${prefix}-`));
}

/** For a describe block: a fresh temp directory before each test (read `dir.path` inside tests), removed after it. */
export function useTempDir(prefix: string): { path: string } {
  const dir = { path: '' };
  beforeEach(async () => {
    dir.path = await tempDir(prefix);
  });
  afterEach(async () => {
    await rm(dir.path, { recursive: true, force: true });
  });
  return dir;
}

/** A test's inbox: `root` (a fresh temp dir), `inbox` (root/inbox) and the folder source `start` made. */
export interface InboxFixture {
  root: string;
  inbox: string;
  source?: FolderSource;
  /** The subscription `start` made to the source's jobs. */
  subscription?: Subscription;
  /** Starts a folder source on the inbox (`defaults`, then `opts`) and subscribes `onJob` to its jobs. */
  start(opts: Partial<FolderSourceOptions>, onJob: (job: Job) => void): FolderSource;
}

/**
 * For a describe block: before each test a fresh root with an empty inbox; after it, the source that
 * `start` made is unsubscribed and closed and the root removed. Read the fields inside tests.
 */
export function useInbox(prefix: string, defaults: Partial<FolderSourceOptions> = {}): InboxFixture {
  const box: InboxFixture = {
    root: '',
    inbox: '',
    start(opts, onJob) {
      const source = createFolderSource({ dir: box.inbox, ...defaults, ...opts });
      box.source = source;
      box.subscription = source.jobs$.subscribe(onJob);
      return source;
    },
  };
  beforeEach(async () => {
    box.root = await tempDir(prefix);
    box.inbox = join(box.root, 'inbox');
    await mkdir(box.inbox);
  });
  afterEach(async () => {
    box.subscription?.unsubscribe();
    box.subscription = undefined;
    await box.source?.close();
    box.source = undefined;
    await rm(box.root, { recursive: true, force: true });
  });
  return box;
}

/** Saves a tiny Show-Attend-Tell with random weights (quality irrelevant) under dir/model and returns that directory. */
export function makeTinyModel(dir: string, seed = 1): Promise<string> {
  return saveTinyModel(join(dir, 'model'), { seed });
}

/** Bytes of a small solid-colour image; the colour varies with i so files differ. */
export function imageBytes(i: number, format: 'png' | 'jpeg' = 'png', size = 48): Promise<Buffer> {
  return solidImage(i, { format, width: size });
}

/** Writes `count` images named img-000.png ... into dir (written elsewhere first, then moved in). */
export async function dropImages(dir: string, count: number, start = 0): Promise<string[]> {
  const staging = join(dir, '..', `staging-${Date.now()}-${start}`);
  await mkdir(staging, { recursive: true });
  const names: string[] = [];
  for (let i = start; i < start + count; i++) {
    const name = `img-${String(i).padStart(3, '0')}.png`;
    await writeFile(join(staging, name), await imageBytes(i));
    names.push(name);
  }
  for (const n of names) await rename(join(staging, n), join(dir, n));
  await rm(staging, { recursive: true, force: true });
  return names;
}

/** Polls `check` until it returns true or the timeout passes (then throws with `what`). */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * `--import` argument that loads tsx in a child process whatever its cwd (a bare `tsx` resolves
 * from the cwd, which in these tests is a temp dir without node_modules).
 */
export function tsxImport(): string {
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
  return pathToFileURL(join(dirname(pkg), 'dist', 'loader.mjs')).href;
}

/** A journal file name without its content hash (`x.3fa2b1c9e0d1.png.json` -> `x.png.json`), to compare with input names. */
export function unhashed(name: string): string {
  return name.replace(/\.[0-9a-f]{12}(?:-\d+)?(?=\.)/, '');
}

/** The real (hashed) name in `dir` of the journal file whose unhashed name is `name`. */
export async function hashedName(dir: string, name: string): Promise<string> {
  const all = (await readdir(dir)).filter((f) => unhashed(f) === name);
  if (all.length !== 1) throw new Error(`expected one file named like ${name} in ${dir}, found ${all.length}: ${all.join(', ')}`);
  return join(dir, all[0]!);
}
