/**
 * The service's work before the model, measured without it:
 * - the folder source alone: `--count` JPEGs written elsewhere, then renamed into a watched inbox at
 *   once; when did the last job leave the source? (ms after the first rename; per round, median)
 * - decoding: CPU time per image of the model input (prepareImage), the feed's thumbnail
 *   (makeThumbnail) and both, `--count` images four at a time as the service decodes them.
 * The files are old enough (mtime a minute back) that the stability window does not hold them: this
 * measures the source's own checking and claiming, not the wait.
 *
 * Run: npx tsx pipelines/bench/bench-ingest.ts [--count 48] [--rounds 5] [--width 320 --height 240]
 */
import { mkdir, mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { makeThumbnail, prepareImage } from '../../src/data/preprocess.js';
import type { PreprocessConfig } from '../../src/data/types.js';
import { createFolderSource } from '../../src/sources/folder-source.js';
import type { Job } from '../../src/sources/job.js';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string', default: '48' },
    rounds: { type: 'string', default: '5' },
    width: { type: 'string', default: '320' },
    height: { type: 'string', default: '240' },
  },
});
const [count, rounds, width, height] = [args.count, args.rounds, args.width, args.height].map(Number) as [number, number, number, number];
if (![count, rounds, width, height].every((n) => Number.isInteger(n) && n > 0)) throw new RangeError('--count, --rounds, --width and --height must be positive integers');

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pictures = await Promise.all(
  Array.from({ length: 16 }, (_, i) =>
    sharp({ create: { width, height, channels: 3, background: { r: (i * 53) % 256, g: (i * 97) % 256, b: (i * 31) % 256 }, noise: { type: 'gaussian', mean: 128, sigma: 30 } } })
      .jpeg({ quality: 85 })
      .toBuffer(),
  ),
);

const root = await mkdtemp(join(tmpdir(), 'bench-ingest-'));
try {
  const inbox = join(root, 'inbox');
  const staging = join(root, 'staging');
  await mkdir(inbox);
  await mkdir(staging);
  const source = createFolderSource({ dir: inbox, stabilityMs: 100, highWater: Math.max(64, count) });
  const left = new Map<string, number>();
  source.jobs$.subscribe((job: Job) => {
    left.set(job.source, performance.now());
    void job.ack();
  });
  await source.ready;
  const lasts: number[] = [];
  for (let round = 0; round < rounds + 1; round++) {
    const names = Array.from({ length: count }, (_, i) => `r${round}-${i}.jpg`);
    const longAgo = new Date(Date.now() - 60_000);
    for (const [i, name] of names.entries()) {
      await writeFile(join(staging, name), pictures[i % pictures.length]!);
      await utimes(join(staging, name), longAgo, longAgo);
    }
    const t0 = performance.now();
    for (const name of names) await rename(join(staging, name), join(inbox, name));
    while (names.some((n) => !left.has(n))) await new Promise((r) => setTimeout(r, 2));
    const last = Math.max(...names.map((n) => left.get(n)!)) - t0;
    if (round > 0) lasts.push(last); // round 0 warms chokidar and the file system up
  }
  await source.close();
  console.log(`folder source: ${count} files renamed in at once, the last job out after median ${median(lasts).toFixed(0)} ms [rounds ${lasts.map((x) => x.toFixed(0)).join(', ')}]`);

  const preprocess: PreprocessConfig = { imageSize: 64, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  const parts = { 'model input': [true, false], thumbnail: [false, true], both: [true, true] } as const;
  for (const [label, [input, thumb]] of Object.entries(parts)) {
    const images = Array.from({ length: count }, (_, i) => pictures[i % pictures.length]!);
    const decode = async (b: Buffer) => {
      if (input) await prepareImage(b, preprocess);
      if (thumb) await makeThumbnail(b, 160);
    };
    await Promise.all(images.slice(0, 4).map(decode)); // warm-up
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < images.length; i += 4) await Promise.all(images.slice(i, i + 4).map(decode));
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - t0;
    console.log(`decode ${label} (${width}x${height} JPEG): ${((cpu.user + cpu.system) / 1000 / count).toFixed(2)} ms CPU per image, ${(wall / count).toFixed(2)} ms wall per image`);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
