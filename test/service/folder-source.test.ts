import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FolderSourceOptions } from '../../src/sources/folder-source.js';
import type { Job } from '../../src/sources/job.js';
import { contentHash, contentId } from '../../src/sources/folder/journal.js';
import { dropImages, unhashed, useInbox, waitFor } from './helpers.js';

describe('folder source: credits, settle moves, recovery (real files, chokidar)', () => {
  const box = useInbox('folder', { stabilityMs: 100 });

  const run = (opts: Partial<FolderSourceOptions> = {}): Job[] => {
    const jobs: Job[] = [];
    box.start(opts, (j) => jobs.push(j));
    return jobs;
  };

  it('stops taking files at the high-water mark and resumes as jobs settle', async () => {
    await dropImages(box.inbox, 30);
    const jobs = run({ highWater: 5 });
    await waitFor(() => jobs.length === 5 && box.source!.stats().queued === 25, '5 jobs and 25 queued paths');
    await new Promise((r) => setTimeout(r, 400));
    expect(jobs).toHaveLength(5);
    expect((await readdir(join(box.inbox, '.processing'))).length).toBe(5);
    await jobs[0]!.ack();
    await jobs[1]!.fail('corrupt', 'img: test failure');
    await waitFor(() => jobs.length === 7, 'two more jobs');
    expect(box.source!.stats()).toMatchObject({ inFlight: 5, acked: 1, failed: 1, claimed: 7 });
    const settled = new Set(jobs.slice(0, 2));
    await waitFor(async () => {
      for (const j of jobs) {
        if (settled.has(j)) continue;
        settled.add(j);
        await j.ack();
      }
      return settled.size === 30;
    }, 'all jobs');
    expect((await readdir(join(box.inbox, 'processed'))).length).toBe(29);
    expect(new Set(jobs.map((j) => j.id)).size).toBe(30);
  });

  it('settles a job only once: ack after fail is a no-op; fail writes the reason first', async () => {
    await dropImages(box.inbox, 1);
    const jobs = run();
    await waitFor(() => jobs.length === 1, 'one job');
    await jobs[0]!.fail('unsupported', 'img-000.png: not an image');
    await jobs[0]!.ack();
    expect(await readdir(join(box.inbox, 'processed'))).toEqual([]);
    const id = jobs[0]!.id;
    expect(unhashed(id)).toBe('img-000.png');
    expect((await readdir(join(box.inbox, 'failed'))).sort()).toEqual([id, `${id}.error.json`]);
    const rec = JSON.parse(await readFile(join(box.inbox, 'failed', `${id}.error.json`), 'utf8'));
    expect(rec).toMatchObject({ id, file: 'img-000.png', reason: 'unsupported', message: 'img-000.png: not an image' });
  });

  it('recovers .processing after a crash: redoes unfinished jobs, only moves finished ones', async () => {
    const processing = join(box.inbox, '.processing');
    await mkdir(processing);
    await mkdir(join(box.inbox, 'failed'));
    // img-000 finished, img-001 failed, img-002 never finished; img-003 has an id from a layout without
    // the content hash and a result under that id (which may belong to another image): it runs again.
    const ids: string[] = [];
    for (const name of await dropImages(processing, 4)) {
      const id = name === 'img-003.png' ? name : contentId(name, await contentHash(join(processing, name)));
      await rename(join(processing, name), join(processing, id));
      ids.push(id);
    }
    await writeFile(join(box.inbox, 'failed', `${ids[1]}.error.json`), '{}');
    const jobs = run({ hasResult: async (id) => id === ids[0] || id === 'img-003.png' });
    await box.source!.ready;
    expect(jobs.map((j) => j.id)).toEqual([ids[2], contentId('img-003.png', await contentHash(join(processing, jobs[1]!.id)))]);
    expect(await readdir(join(box.inbox, 'processed'))).toEqual([ids[0]]);
    expect((await readdir(join(box.inbox, 'failed'))).sort()).toEqual([ids[1], `${ids[1]}.error.json`]);
    expect(box.source!.stats().recovered).toBe(4);
  });

  it('gives a re-dropped name a fresh id, filters extensions, and ignores its own folders', async () => {
    await dropImages(box.inbox, 1);
    await writeFile(join(box.inbox, 'readme.txt'), 'not an image');
    const jobs = run({ recursive: true });
    await waitFor(() => jobs.length === 1, 'first job');
    await jobs[0]!.ack();
    await dropImages(box.inbox, 1);
    await mkdir(join(box.inbox, 'sub'));
    const [name] = await dropImages(join(box.inbox, 'sub'), 1, 7);
    await waitFor(() => jobs.length === 3, 'the re-dropped and the nested file');
    expect(jobs.map((j) => unhashed(j.id)).sort()).toEqual(['img-000.png', 'img-000.png', `sub__${name}`]);
    // Same bytes under the same name again: a distinct id all the same.
    expect(jobs[1]!.id).toBe(jobs[0]!.id.replace(/\.png$/, '-2.png'));
    await new Promise((r) => setTimeout(r, 300));
    expect(jobs).toHaveLength(3);
    expect(await readdir(box.inbox)).toContain('readme.txt');
  });

  it('completes on close() and leaves unclaimed files in the inbox', async () => {
    await dropImages(box.inbox, 4);
    const jobs = run({ highWater: 2 });
    await waitFor(() => jobs.length === 2, 'two jobs');
    await box.source!.close();
    expect(box.subscription!.closed).toBe(true);
    const left = (await readdir(box.inbox)).filter((f) => f.endsWith('.png'));
    expect(left).toHaveLength(2);
    // Moving a file in after close() does nothing.
    await rename(join(box.inbox, left[0]!), join(box.inbox, 'late.png'));
    await new Promise((r) => setTimeout(r, 300));
    expect(jobs).toHaveLength(2);
  });
});
