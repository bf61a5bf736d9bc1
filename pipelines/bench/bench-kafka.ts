/**
 * Kafka caption service benchmark: end-to-end messages/s and consumer lag, with 1 and 2 worker
 * processes (`captioner kafka`, one model replica each) in one consumer group, on a real broker.
 *
 * Two runs per worker count:
 * - drain: the workers start and form the group (and caption one warm-up image), then N images
 *   are produced at once; messages/s = N / (time from the first produce to consumer lag 0).
 * - sustained: images are produced at a fixed rate for a while; consumer lag is sampled every
 *   500 ms (max and final), and end-to-end latency is output broker timestamp minus input broker
 *   timestamp per image (p50/p95).
 *
 * Run: export KAFKA_BROKERS=$(.ci/kafka/broker.sh start)
 *      npx tsx pipelines/bench/bench-kafka.ts [--model DIR] [--drain 200] [--rate 20] [--seconds 20] [--backend wasm]
 * Without --model a random model of the default compact config (64 px, 8x8 grid) is created; random
 * weights rarely emit <end>, so every caption runs the full 50 decoder steps (a worst case).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mergeMap } from 'rxjs';
import sharp from 'sharp';
import { initBackend } from '../../src/backend/index.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { createKafkajsClient } from '../../src/kafka/kafkajs-client.js';
import type { ConsumedRecord, KafkaClient, MessageAdmin } from '../../src/kafka/types.js';
import { createKafkaSink } from '../../src/sinks/kafka-sink.js';
import { createKafkaSource } from '../../src/sources/kafka-source.js';
import { defaultModelConfig, saveCheckpoint, ShowAttendTell } from '../../src/model/index.js';

const { values: args } = parseArgs({
  options: {
    brokers: { type: 'string', default: process.env.KAFKA_BROKERS },
    model: { type: 'string' },
    drain: { type: 'string', default: '200' },
    rate: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '20' },
    backend: { type: 'string', default: 'wasm' },
    workers: { type: 'string', default: '1,2' },
  },
});
if (!args.brokers) throw new Error('set KAFKA_BROKERS or pass --brokers (start one with .ci/kafka/broker.sh start)');
const brokers = args.brokers.split(',');
const client: KafkaClient = createKafkajsClient({ brokers, clientId: 'bench-kafka', logLevel: 'nothing' });
const here = fileURLToPath(new URL('.', import.meta.url));
const isTs = import.meta.url.endsWith('.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uniq = (p: string) => `bench-${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

async function makeModel(dir: string): Promise<void> {
  await initBackend('cpu');
  const words = ['a', 'red', 'green', 'blue', 'circle', 'square', 'left', 'of'];
  const vocab = Vocabulary.build(words.map((w) => Array<string>(6).fill(w)));
  const model = ShowAttendTell.create(defaultModelConfig({ vocabSize: vocab.size }), { seed: 1 });
  await saveCheckpoint(dir, { model, vocab, preprocess: { imageSize: 64, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } });
  model.dispose();
}

const images = await Promise.all(
  Array.from({ length: 16 }, (_, i) =>
    sharp({ create: { width: 96, height: 80, channels: 3, background: { r: i * 16, g: 255 - i * 16, b: 90 } } }).jpeg().toBuffer(),
  ),
);

async function produce(topic: string, from: number, n: number): Promise<void> {
  const producer = client.producer();
  await producer.send(topic, Array.from({ length: n }, (_, i) => ({ key: `m${from + i}`, value: images[(from + i) % images.length]!, headers: { 'content-type': 'image/jpeg' } })));
  await producer.stop();
}

function startWorkers(n: number, modelDir: string, inT: string, outT: string, group: string): ChildProcess[] {
  return Array.from({ length: n }, () => {
    const entry = isTs ? ['--import', 'tsx', join(here, '../../src/cli/commands/kafka.ts')] : [join(here, '../../src/cli/commands/kafka.js')];
    const c = spawn(process.execPath, [...entry, '--brokers', brokers.join(','), '--in', inT, '--out', outT, '--group', group, '--model', modelDir,
      '--workers', '1', '--backend', args.backend!, '--beam-size', '1', '--session-timeout', '10000', '--log-level', 'nothing'], { stdio: ['ignore', 'ignore', 'inherit'] });
    return c;
  });
}

async function stopWorkers(ws: ChildProcess[]): Promise<void> {
  await Promise.all(ws.map((w) => new Promise((r) => {
    if (w.exitCode !== null) return r(undefined);
    w.once('exit', r);
    w.kill('SIGTERM');
  })));
}

async function readAll(topic: string, n: number): Promise<ConsumedRecord[]> {
  const c = client.consumer({ groupId: uniq('reader'), sessionTimeout: 10000, heartbeatInterval: 1000 });
  const got: ConsumedRecord[] = [];
  await c.subscribe([topic], { fromBeginning: true });
  await c.run({
    eachBatch: async (rs, ctx) => {
      got.push(...rs);
      if (rs.length > 0) ctx.resolveOffset(rs[rs.length - 1]!.offset);
    },
  });
  const deadline = Date.now() + 30000;
  while (got.length < n && Date.now() < deadline) await sleep(100);
  await c.stop();
  return got;
}

/** Waits until the group is Stable with n members that all own partitions. */
async function groupFormed(admin: MessageAdmin, group: string, n: number): Promise<void> {
  for (;;) {
    const g = await admin.describeGroup(group).catch(() => undefined);
    if (g && g.state === 'Stable' && g.members.length === n && g.members.every((m) => m.assignment.length > 0)) return;
    await sleep(200);
  }
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function run(workers: number, modelDir: string): Promise<void> {
  const admin = client.admin();
  const drainN = Number(args.drain);
  // Drain: a backlog produced at once to a group already formed (no rebalance inside the measurement).
  {
    const [inT, outT, group] = [uniq('in'), uniq('out'), uniq('g')];
    await admin.ensureTopics([{ topic: inT, partitions: 4 }, { topic: outT, partitions: 1 }, { topic: `${inT}.dead-letter` }]);
    const ws = startWorkers(workers, modelDir, inT, outT, group);
    await groupFormed(admin, group, workers);
    await produce(inT, 0, 1); // warm-up image: every replica has loaded and run the model once
    while ((await admin.lag(group, inT)) > 0) await sleep(100);
    const t0 = performance.now();
    for (let i = 1; i <= drainN; i += 100) await produce(inT, i, Math.min(100, drainN + 1 - i));
    while ((await admin.lag(group, inT)) > 0) await sleep(100);
    const secs = (performance.now() - t0) / 1000;
    console.log(`workers=${workers} drain: ${drainN} images in ${secs.toFixed(1)} s = ${(drainN / secs).toFixed(1)} msg/s end to end`);
    await stopWorkers(ws);
  }
  // Sustained rate.
  {
    const rate = Number(args.rate);
    const seconds = Number(args.seconds);
    const [inT, outT, group] = [uniq('in'), uniq('out'), uniq('g')];
    await admin.ensureTopics([{ topic: inT, partitions: 4 }, { topic: outT, partitions: 1 }, { topic: `${inT}.dead-letter` }]);
    const ws = startWorkers(workers, modelDir, inT, outT, group);
    await groupFormed(admin, group, workers);
    await produce(inT, 0, 1);
    while ((await admin.lag(group, inT)) > 0) await sleep(100); // workers up and warm
    let sent = 1;
    const lags: number[] = [];
    const start = performance.now();
    let nextSample = 0;
    while (performance.now() - start < seconds * 1000) {
      const due = Math.floor(((performance.now() - start) / 1000) * rate) + 1;
      if (due > sent) {
        await produce(inT, sent, due - sent);
        sent = due;
      }
      if (performance.now() - start >= nextSample) {
        lags.push(await admin.lag(group, inT));
        nextSample += 500;
      }
      await sleep(20);
    }
    const drainStart = performance.now();
    while ((await admin.lag(group, inT)) > 0) await sleep(100);
    const tail = (performance.now() - drainStart) / 1000;
    const ins = new Map((await readAll(inT, sent)).map((r) => [r.key!.toString(), Number(r.timestamp)]));
    const outs = await readAll(outT, sent);
    const lat = outs.map((r) => Number(r.timestamp) - (ins.get(r.key!.toString()) ?? NaN)).filter((x) => Number.isFinite(x));
    console.log(
      `workers=${workers} sustained ${rate} msg/s for ${seconds} s: ${sent} sent, ${new Set(outs.map((r) => r.key!.toString())).size} captioned; ` +
        `${outs.length - new Set(outs.map((r) => r.key!.toString())).size} duplicates; lag max ${Math.max(...lags)} mean ${(lags.reduce((a, b) => a + b, 0) / lags.length).toFixed(1)} at end ${lags.at(-1)}; ` +
        `drained ${tail.toFixed(1)} s after the last produce; latency p50 ${pct(lat, 0.5)} ms p95 ${pct(lat, 0.95)} ms`,
    );
    await stopWorkers(ws);
  }
  await admin.stop();
}

/**
 * The Kafka layer alone, in-process: source -> (no model) -> sink with acks=all and offset commits,
 * so the numbers above can be read against what the plumbing costs.
 */
async function plumbing(n: number): Promise<void> {
  const admin = client.admin();
  const [inT, outT, group] = [uniq('pin'), uniq('pout'), uniq('pg')];
  await admin.ensureTopics([{ topic: inT, partitions: 4 }, { topic: outT, partitions: 1 }]);
  for (let i = 0; i < n; i += 200) await produce(inT, i, Math.min(200, n - i));
  const sink = createKafkaSink({ client, topic: outT });
  const source = createKafkaSource({ client, topics: [inT], consumer: { groupId: group }, deadLetter: async () => undefined, highWater: 256 });
  const t0 = performance.now();
  const sub = source.jobs$
    .pipe(mergeMap(async (job) => {
      await sink.write({ id: job.id, source: job.source, caption: 'x', words: ['x'], score: 0, logProb: 0, finished: true, alternatives: [], gridSize: 1, attention: [[1]], modelId: 'none', backend: 'none', timings: {} });
      await job.ack();
    }, 256))
    .subscribe();
  while ((await admin.lag(group, inT)) > 0) await sleep(50);
  const secs = (performance.now() - t0) / 1000;
  console.log(`plumbing (no model, in-process, acks=all, commits): ${n} images (${Math.round(images.reduce((a, b) => a + b.length, 0) / images.length)} B each) in ${secs.toFixed(1)} s = ${(n / secs).toFixed(0)} msg/s; ${source.stats().commits} commits, ${sink.stats().requests} produce requests`);
  await source.close();
  sub.unsubscribe();
  await sink.close();
  await admin.stop();
}

const tmp = await mkdtemp(join(tmpdir(), 'bench-kafka-'));
try {
  const modelDir = args.model ?? join(tmp, 'model');
  if (!args.model) await makeModel(modelDir);
  await plumbing(Number(args.drain) * 10);
  console.log(`bench-kafka: brokers ${brokers.join(',')}, backend ${args.backend}, model ${args.model ?? 'random default compact config (64 px)'}`);
  for (const w of args.workers!.split(',').map(Number)) await run(w, modelDir);
} finally {
  await rm(tmp, { recursive: true, force: true });
}
