import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FolderJournal, folderLayout, HASH_CHARS, idHash } from '../../src/sources/folder/journal.js';
import type { Job } from '../../src/sources/job.js';
import { imageBytes, useInbox, waitFor } from './helpers.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('folder source: when files are taken, and what a job carries (real files, chokidar)', () => {
  const box = useInbox('claims');

  const run = (stabilityMs: number, recursive = false): Job[] => {
    const jobs: Job[] = [];
    box.start({ stabilityMs, recursive }, (j) => jobs.push(j));
    return jobs;
  };

  it('takes a file dropped whole (renamed in, written long ago) at once, with its bytes and their hash in the id', async () => {
    const jobs = run(3000);
    await box.source!.ready;
    const bytes = await imageBytes(1, 'jpeg');
    const staged = join(box.root, 'old.jpg');
    await writeFile(staged, bytes);
    const longAgo = new Date(Date.now() - 60_000);
    await utimes(staged, longAgo, longAgo);
    const dropped = Date.now();
    await rename(staged, join(box.inbox, 'old.jpg'));
    await waitFor(() => jobs.length === 1, 'the job', 2500);
    // Well inside the 3 s window: its mtime says the writer finished a minute ago.
    expect(Date.now() - dropped).toBeLessThan(2500);
    const job = jobs[0]!;
    expect(job.bytes!.equals(bytes)).toBe(true);
    expect(idHash(job.id)).toBe(sha256(bytes).slice(0, HASH_CHARS));
    expect((await readFile(job.path!)).equals(bytes)).toBe(true);
  });

  it('holds a freshly written file until its mtime is a stability window old', async () => {
    const jobs = run(800);
    await box.source!.ready;
    await writeFile(join(box.inbox, 'fresh.png'), await imageBytes(2));
    const written = Date.now();
    await new Promise((r) => setTimeout(r, 400));
    expect(jobs).toHaveLength(0);
    await waitFor(() => jobs.length === 1, 'the job', 5000);
    expect(Date.now() - written).toBeGreaterThanOrEqual(700);
  });

  it('claims a burst in parallel without two inputs ever sharing an id, even names that flatten alike', async () => {
    const same = await imageBytes(3);
    const staging = join(box.root, 'staging');
    await mkdir(join(staging, 'sub'), { recursive: true });
    // sub/x.png flattens to the id stem sub__x, the same as the top-level sub__x.png: same bytes, same hash.
    const names = ['sub__x.png', join('sub', 'x.png'), ...Array.from({ length: 30 }, (_, i) => `twin-${i}.png`)];
    for (const n of names) await writeFile(join(staging, n), n.startsWith('twin') ? await imageBytes(10 + (Number(n.slice(5, -4)) % 5)) : same);
    const longAgo = new Date(Date.now() - 60_000);
    for (const n of names) await utimes(join(staging, n), longAgo, longAgo);
    const jobs = run(100, true);
    await box.source!.ready;
    await mkdir(join(box.inbox, 'sub'));
    for (const n of names) await rename(join(staging, n), join(box.inbox, n));
    await waitFor(() => jobs.length === names.length, `${names.length} jobs`, 10_000);
    const ids = jobs.map((j) => j.id);
    expect(new Set(ids).size).toBe(names.length);
    expect((await readdir(join(box.inbox, '.processing'))).sort()).toEqual([...ids].sort());
    for (const j of jobs) expect(idHash(j.id)).toBe(sha256(await readFile(j.path!)).slice(0, HASH_CHARS));
    const flat = ids.filter((id) => id.startsWith('sub__x.'));
    expect(flat).toHaveLength(2);
  });

  it('gives concurrent claims of inputs whose ids would coincide distinct ids', async () => {
    const journal = new FolderJournal(folderLayout(box.inbox), async () => false);
    await journal.init();
    const bytes = await imageBytes(4);
    await mkdir(join(box.inbox, 'sub'));
    const files = [join(box.inbox, 'sub__x.png'), join(box.inbox, 'sub', 'x.png')];
    for (const f of files) await writeFile(f, bytes);
    const hash = sha256(bytes);
    // Both claims look for a free id before any of them has renamed its file.
    const ids = await Promise.all([journal.claim(files[0]!, hash), journal.claim(files[1]!, hash)]);
    expect(ids[0]).toBeDefined();
    expect(ids[1]).toBeDefined();
    expect(ids[0]).not.toBe(ids[1]);
    expect((await readdir(join(box.inbox, '.processing'))).sort()).toEqual([...ids].sort());
  });
});
