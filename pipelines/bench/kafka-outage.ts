/**
 * Kafka broker outage drill: the caption service keeps running while its broker is stopped and
 * started again mid-stream, and every record ends with exactly one result or dead letter.
 *
 * Starts its own broker (.ci/kafka/broker.sh on --port and --port+1, state in KAFKA_STATE_DIR or
 * <repo>/.kafka), the service in-process on a tiny random model, then:
 *   1. produces the first third of the records (every 20th is not an image: a dead letter),
 *   2. stops the broker once some results are out; a producer keeps trying to send the second third
 *      while it is away (they land when it is back); /health/ready and the feed's stats are sampled,
 *   3. starts the broker again after --outage-ms, produces the last third,
 *   4. waits until every key has an outcome, and counts outcomes per key.
 * Prints records produced, results, dead letters, keys with more than one outcome (only records in
 * flight at the outage may repeat), keys without one (must be 0), and the time to recover (broker
 * back -> service ready, and -> first new result).
 *
 * Run: npx tsx pipelines/bench/kafka-outage.ts [--records 300] [--outage-ms 8000] [--port 39392]
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { WebSocket } from 'ws';
import { startCaptionKafka } from '../caption-kafka.js';
import { initBackend } from '../../src/backend/index.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { createKafkajsClient } from '../../src/kafka/kafkajs-client.js';
import type { ConsumedRecord, KafkaClient } from '../../src/kafka/types.js';
import { defaultModelConfig, saveCheckpoint, ShowAttendTell } from '../../src/model/index.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('kafka-outage: cannot find the repository root (package.json)');
}

/** A broker of our own, on its own ports and run directory, that can be stopped and started. */
export class OwnBroker {
  readonly address: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly script = join(repoRoot(), '.ci', 'kafka', 'broker.sh');

  constructor(readonly port: number, stateDir = process.env.KAFKA_STATE_DIR ?? join(repoRoot(), '.kafka')) {
    this.address = `127.0.0.1:${port}`;
    this.env = { ...process.env, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(port + 1), KAFKA_STATE_DIR: stateDir };
  }

  /** Starts the broker (fresh data the first time, the same data after a stop); resolves with the ms it took. */
  start(fresh = false): Promise<number> {
    return this.run('start', fresh ? {} : { KAFKA_KEEP_DATA: '1' });
  }

  /** Stops it (SIGTERM, clean shutdown); resolves with the ms it took. */
  stop(): Promise<number> {
    return this.run('stop', {});
  }

  private run(cmd: string, extra: NodeJS.ProcessEnv): Promise<number> {
    const t0 = Date.now();
    return new Promise((res, rej) => {
      execFile('bash', [this.script, cmd], { env: { ...this.env, ...extra }, timeout: 120_000 }, (e, _out, err) =>
        e ? rej(new Error(`broker.sh ${cmd} on port ${this.port} failed: ${err || e.message}`)) : res(Date.now() - t0),
      );
    });
  }
}

/** A tiny random checkpoint (16x16 input, 2x2 grid): captions are fast and meaningless, which is all a drill needs. */
export async function makeDrillModel(dir: string): Promise<void> {
  await initBackend('cpu');
  const words = ['a', 'red', 'green', 'blue', 'circle', 'square'];
  const vocab = Vocabulary.build([words, words], 0);
  const config = defaultModelConfig({ encoder: { kind: 'compact-cnn', channels: [4, 8] }, gridSize: 2, attentionDim: 8, embedDim: 8, decoderDim: 16, vocabSize: vocab.size, dropout: 0 });
  const model = ShowAttendTell.create(config, { seed: 3 });
  try {
    await saveCheckpoint(dir, { model, vocab, preprocess: { imageSize: 16, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } });
  } finally {
    model.dispose();
  }
}

export interface OutageReport {
  produced: number;
  poison: number;
  results: number;
  deadLetters: number;
  /** Keys with more than one outcome, and the extra outcomes they have. */
  duplicatedKeys: number;
  duplicates: number;
  /** Keys with no outcome at all (lost): must be 0. */
  missingKeys: number;
  /** Keys with both a result and a dead letter: must be 0. */
  conflictingKeys: number;
  /** Readiness states sampled while the broker was away. */
  readyWhileAway: string[];
  /** Whether a feed stats message said ready=false while away. */
  feedSaidUnready: boolean;
  brokerStopMs: number;
  brokerStartMs: number;
  /** From the broker answering again to /health/ready 200, and to the first new result. */
  recoverReadyMs: number;
  recoverResultMs: number;
  /** Wall time of the whole drill after the first broker start. */
  totalMs: number;
}

export interface OutageOptions {
  broker: OwnBroker;
  modelDir: string;
  records?: number;
  outageMs?: number;
  log?: (line: string) => void;
}

const uniq = (p: string): string => `outage-${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

/** Runs the drill on a started broker (see the module comment); the broker is left running. */
export async function runKafkaOutage(o: OutageOptions): Promise<OutageReport> {
  const n = o.records ?? 300;
  const log = o.log ?? (() => undefined);
  const t0 = Date.now();
  const client: KafkaClient = createKafkajsClient({ brokers: [o.broker.address], clientId: 'outage-drill', logLevel: 'nothing' });
  const [inT, outT, dlqT, group] = [uniq('in'), uniq('out'), uniq('dlq'), uniq('g')];
  const admin = client.admin();
  await admin.ensureTopics([{ topic: inT, partitions: 2 }, { topic: outT }, { topic: dlqT }]);
  await admin.stop();

  const keys = Array.from({ length: n }, (_, i) => `r-${String(i).padStart(4, '0')}`);
  const isPoison = (i: number): boolean => i % 20 === 7;
  const image = await sharp({ create: { width: 24, height: 20, channels: 3, background: 'teal' } }).png().toBuffer();
  const value = (i: number): Buffer => (isPoison(i) ? Buffer.from(`not an image ${i}`) : image);
  const produce = async (from: number, to: number, retries = 5): Promise<void> => {
    const p = createKafkajsClient({ brokers: [o.broker.address], clientId: 'outage-producer', logLevel: 'nothing', retry: { retries, maxRetryTime: 2000 } }).producer();
    try {
      for (let i = from; i < to; i += 50) {
        const chunk = keys.slice(i, Math.min(to, i + 50)).map((k, j) => ({ key: k, value: value(i + j), headers: { 'content-type': 'image/png' } }));
        for (;;) {
          try {
            await p.send(inT, chunk);
            break;
          } catch {
            await sleep(500); // the broker is away: keep the records and try again
          }
        }
      }
    } finally {
      await p.stop().catch(() => undefined);
    }
  };

  const service = await startCaptionKafka({
    client, brokers: [o.broker.address], inTopics: [inT], outTopic: outT, deadLetterTopic: dlqT, groupId: group, modelDir: o.modelDir,
    workers: 1, backend: 'cpu', maxBatch: 4, beamSize: 1, highWater: 16, sessionTimeout: 10_000, port: 0, brokerProbeMs: 250, shutdownGraceMs: 5000,
    log: (l) => log(`[service] ${l}`),
  });
  const url = service.feed!.address().url;
  let feedSaidUnready = false;
  const ws = new WebSocket(url.replace(/^http/, 'ws'));
  ws.on('message', (d: Buffer) => {
    const m = JSON.parse(d.toString()) as { type: string; ready?: boolean };
    if (m.type === 'stats' && m.ready === false) feedSaidUnready = true;
  });
  ws.on('error', () => undefined);
  const ready = async (): Promise<string> => {
    const r = await fetch(`${url}/health/ready`);
    return ((await r.json()) as { status: string }).status;
  };

  let report: OutageReport;
  try {
    const third = Math.floor(n / 3);
    await produce(0, third);
    const out = (): number => service.sink.stats().produced + service.sink.stats().deadLettered;
    while (out() < third / 2) await sleep(50);
    log(`${out()} outcomes out; stopping the broker`);
    const brokerStopMs = await o.broker.stop();
    const during = produce(third, 2 * third, 0);
    const readyWhileAway = new Set<string>();
    const awayUntil = Date.now() + (o.outageMs ?? 8000);
    while (Date.now() < awayUntil) {
      readyWhileAway.add(await ready());
      await sleep(250);
    }
    const outBefore = out();
    log(`starting the broker again (outcomes so far ${outBefore}; readiness seen ${[...readyWhileAway].join(', ')})`);
    const brokerStartMs = await o.broker.start();
    const back = Date.now();
    let recoverReadyMs = -1;
    let recoverResultMs = -1;
    while (recoverReadyMs < 0 || recoverResultMs < 0) {
      if (recoverReadyMs < 0 && (await ready()) === 'ready') recoverReadyMs = Date.now() - back;
      if (recoverResultMs < 0 && out() > outBefore) recoverResultMs = Date.now() - back;
      if (Date.now() - back > 120_000) throw new Error('kafka-outage: the service did not recover within 120 s');
      await sleep(50);
    }
    log(`recovered: ready after ${recoverReadyMs} ms, first new outcome after ${recoverResultMs} ms`);
    await during;
    await produce(2 * third, n);
    log(`all ${n} records produced`);

    // Every key must end with an outcome: read both topics until they cover all keys.
    const outcomes = new Map<string, { results: number; dead: number }>();
    const seen = (r: ConsumedRecord, kind: 'results' | 'dead'): void => {
      const k = r.key?.toString() ?? '';
      const c = outcomes.get(k) ?? { results: 0, dead: 0 };
      c[kind]++;
      outcomes.set(k, c);
    };
    const reader = client.consumer({ groupId: uniq('reader'), sessionTimeout: 10_000, heartbeatInterval: 1000 });
    await reader.subscribe([outT, dlqT], { fromBeginning: true });
    await reader.run({
      eachBatch: async (rs, ctx) => {
        for (const r of rs) seen(r, r.topic === outT ? 'results' : 'dead');
        if (rs.length > 0) ctx.resolveOffset(rs[rs.length - 1]!.offset);
      },
    });
    const deadline = Date.now() + 180_000;
    let lastLog = Date.now();
    while (keys.some((k) => !outcomes.has(k)) && Date.now() < deadline) {
      await sleep(200);
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        const s = service.source.stats();
        log(`waiting: ${keys.filter((k) => !outcomes.has(k)).length} keys without outcome; source received ${s.received}, in flight ${s.inFlight}, acked ${s.acked}, failed ${s.failed}, commits ${s.commits}; ${service.unready() ?? 'ready'}`);
      }
    }
    await sleep(1500); // let late duplicates arrive before counting
    await reader.stop();
    const counts = keys.map((k) => outcomes.get(k) ?? { results: 0, dead: 0 });
    report = {
      produced: n,
      poison: keys.filter((_, i) => isPoison(i)).length,
      results: counts.reduce((s, c) => s + c.results, 0),
      deadLetters: counts.reduce((s, c) => s + c.dead, 0),
      duplicatedKeys: counts.filter((c) => c.results + c.dead > 1).length,
      duplicates: counts.reduce((s, c) => s + Math.max(0, c.results + c.dead - 1), 0),
      missingKeys: counts.filter((c) => c.results + c.dead === 0).length,
      conflictingKeys: counts.filter((c) => c.results > 0 && c.dead > 0).length,
      readyWhileAway: [...readyWhileAway],
      feedSaidUnready,
      brokerStopMs,
      brokerStartMs,
      recoverReadyMs,
      recoverResultMs,
      totalMs: Date.now() - t0,
    };
  } finally {
    ws.close();
    await service.stop();
  }
  return report;
}

/** The report as the lines the closing note quotes. */
export function formatOutageReport(r: OutageReport): string {
  return [
    `records produced        ${r.produced} (${r.poison} not images)`,
    `results                 ${r.results}`,
    `dead letters            ${r.deadLetters}`,
    `keys with duplicates    ${r.duplicatedKeys} (${r.duplicates} extra outcomes; only records in flight at the outage may repeat)`,
    `keys without outcome    ${r.missingKeys}`,
    `keys result+dead letter ${r.conflictingKeys}`,
    `readiness while away    ${r.readyWhileAway.join(', ')}; feed stats said unready: ${r.feedSaidUnready}`,
    `broker stop / start     ${r.brokerStopMs} ms / ${r.brokerStartMs} ms`,
    `time to recover         ready ${r.recoverReadyMs} ms, first new outcome ${r.recoverResultMs} ms after the broker was back`,
    `drill wall time         ${(r.totalMs / 1000).toFixed(1)} s`,
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values: args } = parseArgs({
    options: { records: { type: 'string', default: '300' }, 'outage-ms': { type: 'string', default: '8000' }, port: { type: 'string', default: '39392' } },
  });
  const broker = new OwnBroker(Number(args.port));
  const dir = await mkdtemp(join(tmpdir(), 'kafka-outage-'));
  try {
    await makeDrillModel(join(dir, 'model'));
    console.log(`broker on ${broker.address}: started in ${await broker.start(true)} ms`);
    const report = await runKafkaOutage({ broker, modelDir: join(dir, 'model'), records: Number(args.records), outageMs: Number(args['outage-ms']), log: (l) => console.log(l) });
    console.log(formatOutageReport(report));
  } finally {
    await broker.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  process.exit(0);
}
