/**
 * Folder caption service benchmark: throughput and latency from file drop to WebSocket message.
 *
 * For each setting (workers x maxBatch/maxDelayMs) the service is started in-process (replicas in
 * worker_threads, a real chokidar watcher, a real WebSocket client), then `--count` images are dropped
 * (written elsewhere, renamed in) at each arrival rate; "burst" drops them all at once.
 * - latency: WebSocket arrival minus the moment the file was renamed into the inbox (includes the
 *   readiness wait `--stability-ms`, which a real deployment needs against half-written files);
 * - throughput: images / (last arrival - first drop).
 * The WebSocket client wants thumbnails as the dashboard does; `--thumbnails off` connects as a
 * program that wants captions only (?thumbnails=0), so the service makes none.
 * A final long run drops `--long` images in bursts and samples resident memory (RSS of the whole
 * process, replicas included) every 500 ms.
 *
 * Run: npx tsx pipelines/bench/bench-service.ts [--model DIR] [--count 40] [--rates 5,20,burst]
 *        [--settings 1/0,8/20,16/50] [--workers 1,2] [--long 1000] [--stability-ms 100] [--thumbnails on|off] [--json FILE]
 *        [--backend wasm,node] (each backend in turn, then a side-by-side table; node only where it loads)
 * Without --model a random model of the default compact config (64 px, 8x8 grid) is created; random
 * weights rarely emit <end>, so captions run the full 50 decoder steps (a worst case for the model).
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { WebSocket } from 'ws';
import { initBackend } from '../../src/backend/index.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { defaultModelConfig, saveCheckpoint, ShowAttendTell } from '../../src/model/index.js';
import type { FeedMessage } from '../../src/protocol/messages.js';
import { quantile } from '../../src/sinks/service-metrics.js';
import { startCaptionFolder } from '../caption-folder.js';
import { nativeBackendLoads } from '../../src/backend/native-loads.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    count: { type: 'string', default: '40' },
    rates: { type: 'string', default: '5,20,burst' },
    settings: { type: 'string', default: '1/0,8/20,16/50' },
    workers: { type: 'string', default: '1,2' },
    long: { type: 'string', default: '1000' },
    'long-workers': { type: 'string', default: '2' },
    'stability-ms': { type: 'string', default: '100' },
    thumbnails: { type: 'string', default: 'on' },
    backend: { type: 'string', default: 'wasm,node' },
    json: { type: 'string' },
  },
});
if (args.thumbnails !== 'on' && args.thumbnails !== 'off') throw new RangeError(`--thumbnails must be on or off, not ${args.thumbnails}`);
const count = Number(args.count);
const stabilityMs = Number(args['stability-ms']);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function makeModel(dir: string): Promise<string> {
  await initBackend('wasm');
  const words = ['a', 'red', 'green', 'blue', 'circle', 'square', 'left', 'of'];
  const vocab = Vocabulary.build(words.map((w) => Array<string>(6).fill(w)));
  const model = ShowAttendTell.create(defaultModelConfig({ vocabSize: vocab.size }), { seed: 1 });
  await saveCheckpoint(dir, { model, vocab, preprocess: { imageSize: 64, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } });
  model.dispose();
  return dir;
}

/** Varied 320x240 JPEGs (noise on a colour), so decoding costs what a photo's would at that size. */
async function makeImages(n: number): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      sharp({ create: { width: 320, height: 240, channels: 3, background: { r: (i * 53) % 256, g: (i * 97) % 256, b: (i * 31) % 256 }, noise: { type: 'gaussian', mean: 128, sigma: 30 } } })
        .jpeg({ quality: 85 })
        .toBuffer(),
    ),
  );
}

interface RunResult {
  backend: string;
  workers: number;
  maxBatch: number;
  maxDelayMs: number;
  rate: string;
  images: number;
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
}

const root = await mkdtemp(join(tmpdir(), 'bench-service-'));
const modelDir = args.model ?? (await makeModel(join(root, 'model')));
const pictures = await makeImages(16);
const staging = join(root, 'staging');
await mkdir(staging);
let seq = 0;
/** Median per-stage timings (ms) of the last drop, as the service reports them in each caption. */
let lastStages = '';

/** Starts a service, runs `body` with a drop function and the WebSocket arrival times, stops it. */
async function withService<T>(backend: string, workers: number, maxBatch: number, maxDelayMs: number, body: (drop: (n: number, rate: number | 'burst') => Promise<number[]>) => Promise<T>): Promise<T> {
  const inbox = join(root, `inbox-${seq++}`);
  await mkdir(inbox);
  const service = await startCaptionFolder({ dir: inbox, modelDir, workers, maxBatch, maxDelayMs, backend, port: 0, stabilityMs, statsIntervalMs: 0, highWater: 256 });
  const ws = new WebSocket(service.feed!.address().url.replace('http', 'ws') + (args.thumbnails === 'off' ? '/?thumbnails=0' : ''));
  const arrivals = new Map<string, number>();
  const stages = new Map<string, Record<string, number>>();
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as FeedMessage;
    // Keyed by file name: a message's id adds a content hash to it (the journal's id).
    if (m.type === 'caption' || m.type === 'caption.failed') arrivals.set(m.source, performance.now());
    if (m.type === 'caption') stages.set(m.source, m.timings);
  });
  await new Promise((res, rej) => ws.once('open', res).once('error', rej));
  const drop = async (n: number, rate: number | 'burst'): Promise<number[]> => {
    const names = Array.from({ length: n }, (_, i) => `b${seq}-${i}-${Math.random().toString(36).slice(2, 6)}.jpg`);
    for (let i = 0; i < n; i++) await writeFile(join(staging, names[i]!), pictures[i % pictures.length]!);
    const dropped = new Map<string, number>();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      if (rate !== 'burst') {
        const due = t0 + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
      }
      await rename(join(staging, names[i]!), join(inbox, names[i]!));
      dropped.set(names[i]!, performance.now());
    }
    const deadline = performance.now() + 600_000;
    while (names.some((nm) => !arrivals.has(nm)) && performance.now() < deadline) await sleep(10);
    const lat = names.map((nm) => arrivals.get(nm)! - dropped.get(nm)!);
    // Where a drop's latency goes: the service's own per-stage timings (median over the drop).
    const stageNames = Object.keys(stages.get(names[0]!) ?? {});
    const medianOf = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
    lastStages = stageNames.map((st) => `${st} ${Math.round(medianOf(names.map((nm) => stages.get(nm)?.[st] ?? NaN).filter((x) => !Number.isNaN(x))))}`).join(', ');
    const last = Math.max(...names.map((nm) => arrivals.get(nm)!));
    lat.push(n / ((last - t0) / 1000)); // throughput rides along as the last element
    return lat;
  };
  try {
    return await body(drop);
  } finally {
    ws.close();
    await service.stop();
    await rm(inbox, { recursive: true, force: true });
  }
}

const results: RunResult[] = [];
const rates = args.rates.split(',').map((r) => (r === 'burst' ? 'burst' : Number(r)));
// Replicas initialise their own backends, so one process measures every backend side by side; a
// native backend that does not load here (no `npm run setup:native`) is left out with a note.
const backends = args.backend.split(',').filter((b) => b !== 'node' || nativeBackendLoads());
if (backends.length < args.backend.split(',').length) console.log('(node left out: @tensorflow/tfjs-node does not load here; see npm run setup:native)');
for (const backend of backends) for (const workers of args.workers.split(',').map(Number)) {
  for (const setting of args.settings.split(',')) {
    const [maxBatch, maxDelayMs] = setting.split('/').map(Number) as [number, number];
    await withService(backend, workers, maxBatch, maxDelayMs, async (drop) => {
      await drop(Math.min(8, count), 'burst'); // warm-up: first-batch shapes, sharp, chokidar
      for (const rate of rates) {
        const lat = await drop(count, rate);
        const throughput = lat.pop()!;
        const sorted = lat.sort((a, b) => a - b);
        const r: RunResult = {
          backend,
          workers,
          maxBatch,
          maxDelayMs,
          rate: String(rate),
          images: count,
          throughput: Math.round(throughput * 10) / 10,
          p50: Math.round(quantile(sorted, 0.5)),
          p95: Math.round(quantile(sorted, 0.95)),
          p99: Math.round(quantile(sorted, 0.99)),
        };
        results.push(r);
        console.log(`${backend.padEnd(4)} workers ${workers} batch ${String(maxBatch).padStart(2)}/${String(maxDelayMs).padStart(2)}ms rate ${String(rate).padStart(5)}/s: ${r.throughput.toFixed(1).padStart(6)} img/s, latency p50 ${r.p50} p95 ${r.p95} p99 ${r.p99} ms; median stages: ${lastStages}`);
      }
    });
  }
}

// Long run: resident memory must level off (bounded queues, no leaked tensors or buffers).
const longCount = Number(args.long);
const memory: number[] = [];
let longThroughput = 0;
if (longCount > 0) {
  const sampler = setInterval(() => memory.push(process.memoryUsage().rss), 500);
  await withService(backends[0]!, Number(args['long-workers']), 8, 20, async (drop) => {
    const chunk = 100;
    let done = 0;
    const t0 = performance.now();
    while (done < longCount) {
      const n = Math.min(chunk, longCount - done);
      await drop(n, 'burst');
      done += n;
      console.log(`long run: ${done}/${longCount} images, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
    }
    longThroughput = longCount / ((performance.now() - t0) / 1000);
  });
  clearInterval(sampler);
}
const mib = (b: number): number => Math.round(b / 2 ** 20);
const summary = {
  stabilityMs,
  results,
  long: longCount > 0 ? { images: longCount, throughput: Math.round(longThroughput * 10) / 10, rssFirstMiB: mib(memory[0] ?? 0), rssPeakMiB: mib(Math.max(...memory)), rssLastMiB: mib(memory[memory.length - 1] ?? 0), samples: memory.length } : undefined,
};
if (summary.long) console.log(`long run (${args['long-workers']} workers, batch 8/20ms): ${longCount} images at ${summary.long.throughput} img/s; RSS first ${summary.long.rssFirstMiB} MiB, peak ${summary.long.rssPeakMiB} MiB, last ${summary.long.rssLastMiB} MiB`);
// Side by side: each setting's throughput and p99 per backend.
const settingsOf = (r: RunResult): string => `${r.workers} replica(s), batch ${r.maxBatch}/${r.maxDelayMs}ms, rate ${r.rate}/s`;
console.log(`\n| setting | ${backends.map((b) => `${b} img/s | ${b} p99 ms`).join(' | ')} |\n|---|${backends.map(() => '---|---|').join('')}`);
for (const setting of [...new Set(results.map(settingsOf))]) {
  const cells = backends.map((b) => {
    const r = results.find((x) => x.backend === b && settingsOf(x) === setting);
    return r ? `${r.throughput} | ${r.p99}` : ' | ';
  });
  console.log(`| ${setting} | ${cells.join(' | ')} |`);
}
if (args.json) await writeFile(args.json, JSON.stringify(summary, null, 2) + '\n');
await rm(root, { recursive: true, force: true });
