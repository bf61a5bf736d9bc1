import { open, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { endsComplete } from '../../src/sources/folder/completeness.js';
import type { FolderSourceOptions } from '../../src/sources/folder-source.js';
import type { Job } from '../../src/sources/job.js';
import { unhashed, useInbox, waitFor } from './helpers.js';

/** A noisy picture: big enough that half of it still has a decodable header. */
const picture = (format: 'jpeg' | 'png' | 'webp' | 'avif' | 'tiff' | 'gif'): Promise<Buffer> =>
  sharp({ create: { width: 160, height: 120, channels: 3, background: 'teal', noise: { type: 'gaussian', mean: 120, sigma: 40 } } })
    .toFormat(format)
    .toBuffer();

/** Writes `bytes` to `path` as a network copy would: half, a pause, the rest, through one descriptor. */
async function pausingWriter(path: string, bytes: Buffer, pauseMs: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
    await new Promise((r) => setTimeout(r, pauseMs));
    await fh.write(bytes.subarray(Math.floor(bytes.length / 2)));
  } finally {
    await fh.close();
  }
}

describe('folder source: files are taken complete (real writers that pause)', () => {
  const box = useInbox('complete', { stabilityMs: 300, incompleteGraceMs: 10_000 });

  /** Runs the source with a real decode (sharp) as the consumer: ack what decodes, fail the rest. */
  const run = (opts: Partial<FolderSourceOptions> = {}): { jobs: Job[]; bytes: Map<string, Buffer> } => {
    const jobs: Job[] = [];
    const bytes = new Map<string, Buffer>();
    box.start(opts, (j) => {
      jobs.push(j);
      void (async () => {
        const b = await readFile(j.path!);
        try {
          await sharp(b).raw().toBuffer();
          bytes.set(unhashed(j.id), b);
          await j.ack();
        } catch (e) {
          await j.fail('corrupt', `${j.source}: ${(e as Error).message}`);
        }
      })();
    });
    return { jobs, bytes };
  };

  it('the end checks tell half files from whole ones', async () => {
    for (const format of ['jpeg', 'png', 'webp', 'avif', 'gif'] as const) {
      const b = await picture(format);
      const half = join(box.root, `half.${format}`);
      const whole = join(box.root, `whole.${format}`);
      await writeFile(half, b.subarray(0, Math.floor(b.length / 2)));
      await writeFile(whole, b);
      expect([format, await endsComplete(half, Math.floor(b.length / 2))]).toEqual([format, false]);
      expect([format, await endsComplete(whole, b.length)]).toEqual([format, true]);
    }
  });

  it('a writer pausing 2 s mid-file loses nothing: JPEG, PNG, GIF, WebP and AVIF wait for their end', async () => {
    const { jobs, bytes } = run();
    await box.source!.ready;
    const formats = ['jpeg', 'png', 'gif', 'webp', 'avif'] as const;
    const pictures = await Promise.all(formats.map(picture));
    await Promise.all(formats.map((f, i) => pausingWriter(join(box.inbox, `cam.${f}`), pictures[i]!, 2000)));
    await waitFor(() => bytes.size === formats.length, 'all five captured', 15_000);
    for (const [i, f] of formats.entries()) expect(bytes.get(`cam.${f}`)!.equals(pictures[i]!)).toBe(true);
    expect(jobs).toHaveLength(formats.length);
    expect(await readdir(join(box.inbox, 'failed'))).toEqual([]);
  });

  it('a file that failed to decode and changes afterwards is tried again; failed/ keeps only the truly bad', async () => {
    const { jobs, bytes } = run({ incompleteGraceMs: 3000 });
    await box.source!.ready;
    // TIFF has no cheap end check: the half file is taken after the stability window and fails.
    const tiff = await picture('tiff');
    const writer = pausingWriter(join(box.inbox, 'scan.tiff'), tiff, 2500);
    await writeFile(join(box.inbox, 'garbage.png'), Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47]), Buffer.alloc(200, 7)]));
    await waitFor(() => jobs.some((j) => unhashed(j.id) === 'scan.tiff'), 'the half TIFF taken', 5000);
    await writer;
    await waitFor(() => bytes.has('scan.tiff'), 'the whole TIFF captured after the retry', 20_000);
    expect(bytes.get('scan.tiff')!.equals(tiff)).toBe(true);
    expect(jobs.filter((j) => unhashed(j.id) === 'scan.tiff')).toHaveLength(2);
    expect(box.source!.stats().retried).toBe(1);
    await waitFor(async () => (await readdir(join(box.inbox, 'failed'))).length === 2, 'garbage.png failed', 15_000);
    expect((await readdir(join(box.inbox, 'failed'))).map(unhashed).sort()).toEqual(['garbage.png', 'garbage.png.error.json']);
  });

  it('refuses symlinks with a reason instead of reading what they point to', async () => {
    const refused: string[] = [];
    const outside = join(box.root, 'secret.png');
    await writeFile(outside, await picture('png'));
    await symlink(outside, join(box.inbox, 'link.png'));
    const { jobs } = run({ onRefused: (file, message) => refused.push(`${file}: ${message}`) });
    await waitFor(() => refused.length === 1, 'the link refused', 5000);
    expect(refused[0]).toMatch(/^link\.png: .*link\.png is a symbolic link to .*secret\.png, outside the inbox/);
    expect(jobs).toEqual([]);
    const failed = await readdir(join(box.inbox, 'failed'));
    expect(failed.map(unhashed).sort()).toEqual(['link.png', 'link.png.error.json']);
    const rec = JSON.parse(await readFile(join(box.inbox, 'failed', failed.find((f) => f.endsWith('.error.json'))!), 'utf8'));
    expect(rec).toMatchObject({ reason: 'unsupported', file: 'link.png' });
    expect(await readFile(outside)).toBeTruthy(); // the target is untouched
  });
});
