import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeMap, Subscription, timer } from 'rxjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, readRecords, testClient, unique, waitFor } from './broker-env.js';
import { createKafkaSource } from '../../src/sources/kafka-source.js';
import { createKafkaSink } from '../../src/sinks/kafka-sink.js';
import type { Job } from '../../src/sources/job.js';
import type { CaptionRecordValue } from '../../src/kafka/formats.js';

const brokers = kafkaBrokers();

/** A stand-in for the caption graph (the real one is tested in pipeline.test.ts): decode, report size. */
async function fakeCaption(job: Job): Promise<{ job: Job; words: string[] } | undefined> {
  try {
    const meta = await sharp(job.bytes ?? job.path!).metadata();
    return { job, words: ['w', String(meta.width)] };
  } catch (e) {
    await job.fail('corrupt', (e as Error).message);
    return undefined;
  }
}

const png = (i: number) => sharp({ create: { width: 8 + i, height: 8, channels: 3, background: { r: i * 10, g: 0, b: 0 } } }).png().toBuffer();

describe.skipIf(!brokers)('Kafka source -> sink on the real broker', () => {
  const client = testClient(brokers ?? []);
  const admin = client.admin();
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kafka-src-'));
    await mkdir(join(dir, 'root'));
  });
  afterAll(async () => {
    await admin.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('captions good records, dead-letters poison ones with original key/headers/value, commits everything', async () => {
    const [inT, outT, dlqT, groupId] = [unique('in'), unique('out'), unique('dlq'), unique('g')];
    await admin.ensureTopics([{ topic: inT, partitions: 2 }, { topic: outT }, { topic: dlqT }]);
    await writeFile(join(dir, 'root', 'ref.png'), await png(3));
    await writeFile(join(dir, 'outside.png'), await png(4));
    const producer = client.producer();
    const good = await Promise.all(Array.from({ length: 10 }, (_, i) => png(i)));
    await producer.send(inT, good.map((v, i) => ({ key: `img-${i}`, value: v, headers: { 'content-type': 'image/png' } })));
    const poison: Array<{ key: string; value: string | Buffer; headers: Record<string, string> }> = [
      { key: 'txt', value: 'hello', headers: { 'content-type': 'text/plain', trace: 't1' } },
      { key: 'empty', value: Buffer.alloc(0), headers: { trace: 't2' } },
      { key: 'corrupt', value: Buffer.concat([good[0]!.subarray(0, 40)]), headers: { 'content-type': 'image/png', trace: 't3' } },
      { key: 'escape', value: JSON.stringify({ id: 'escape', path: '../outside.png' }), headers: { trace: 't4' } },
      { key: 'huge', value: Buffer.alloc(3000, 1), headers: { 'content-type': 'image/jpeg', trace: 't5' } },
    ];
    await producer.send(inT, poison);
    await producer.send(inT, [{ key: 'ref', value: JSON.stringify({ id: 'by-ref', path: 'ref.png' }), headers: { 'content-type': 'application/json' } }]);
    await producer.stop();

    const sink = createKafkaSink({ client, topic: outT, deadLetterTopic: dlqT });
    const source = createKafkaSource({
      client, topics: [inT], consumer: { groupId, sessionTimeout: 10000, heartbeatInterval: 1000 },
      deadLetter: sink.deadLetter, allowRoot: join(dir, 'root'), maxBytes: 2000,
    });
    const sub: Subscription = source.jobs$
      .pipe(mergeMap(fakeCaption, 4), mergeMap(async (r) => {
        if (!r) return;
        await sink.write({
          id: r.job.id, source: r.job.source, caption: r.words.join(' '), words: r.words, score: -1, logProb: -1, finished: true,
          alternatives: [], gridSize: 2, attention: [[1, 0, 0, 0], [0, 0, 0, 1], [0.25, 0.25, 0.25, 0.25]],
          modelId: 'fake', backend: 'none', timings: { total: 1 },
        });
        await r.job.ack();
      }))
      .subscribe({ error: (e) => console.error(e) });

    await waitFor(async () => (await admin.lag(groupId, inT)) === 0, 'all 16 input offsets committed');
    await source.close();
    sub.unsubscribe();
    await sink.close();

    const out = await readRecords(client, outT, 11);
    const values = out.map((r) => JSON.parse(r.value!.toString()) as CaptionRecordValue);
    expect(new Set(out.map((r) => r.key?.toString()))).toEqual(new Set([...good.map((_, i) => `img-${i}`), 'by-ref']));
    expect(values.find((v) => v.id === 'img-5')!.words).toEqual(['w', '13']);
    expect(values.find((v) => v.id === 'by-ref')!.words).toEqual(['w', '11']);
    expect(values[0]!.attention.maps).toHaveLength(3);
    expect(values[0]!.source).toMatch(new RegExp(`^${inT}/[01]@\\d+$`));

    const dead = await readRecords(client, dlqT, 5);
    const byKey = new Map(dead.map((r) => [r.key!.toString(), r]));
    expect(Object.fromEntries([...byKey].map(([k, r]) => [k, r.headers['x-dead-letter-reason']]))).toEqual({
      txt: 'unsupported', empty: 'empty', corrupt: 'corrupt', escape: 'path-not-allowed', huge: 'too-large',
    });
    for (const p of poison) {
      const r = byKey.get(p.key)!;
      expect(r.headers.trace).toBe(p.headers.trace);
      expect(r.value ?? Buffer.alloc(0)).toEqual(Buffer.from(p.value));
      expect(r.headers['x-source-topic']).toBe(inT);
      expect(r.headers['x-dead-letter-error']!.length).toBeGreaterThan(0);
      expect(Number(r.headers['x-source-offset'])).toBeGreaterThanOrEqual(0);
    }
    const stats = source.stats();
    expect(stats.inFlight).toBe(0);
    expect(stats.received).toBe(stats.acked + stats.failed + stats.rejected);
    if (stats.rebalances <= 1) {
      expect(stats).toMatchObject({ received: 16, acked: 11, failed: 1, rejected: 4 });
    } else {
      // At least once: a rebalance (a loaded machine can miss a session timeout) redelivers what was
      // not committed yet, so counts may exceed the input; never fall short of it.
      expect(stats.acked).toBeGreaterThanOrEqual(11);
      expect(stats.failed + stats.rejected).toBeGreaterThanOrEqual(5);
    }
  });

  it('pauses above the high-water mark and resumes below the low-water mark under a slow handler', async () => {
    const [inT, groupId] = [unique('slow'), unique('g')];
    await admin.ensureTopics([{ topic: inT, partitions: 2 }]);
    const producer = client.producer();
    const img = await png(1);
    await producer.send(inT, Array.from({ length: 40 }, (_, i) => ({ key: `s${i}`, value: img })));
    await producer.stop();
    const source = createKafkaSource({
      client, topics: [inT], consumer: { groupId, sessionTimeout: 6000, heartbeatInterval: 500 },
      deadLetter: async () => { throw new Error('no dead letters expected'); },
      highWater: 5, lowWater: 2, heartbeatMs: 200,
    });
    let concurrent = 0;
    let maxConcurrent = 0;
    // Deliberately unbounded and slow: only the source's credit window limits what is in flight.
    const sub = source.jobs$
      .pipe(mergeMap((job) => {
        maxConcurrent = Math.max(maxConcurrent, ++concurrent);
        return timer(60).pipe(mergeMap(async () => { concurrent--; await job.ack(); }));
      }))
      .subscribe();
    await waitFor(async () => (await admin.lag(groupId, inT)) === 0, 'all 40 offsets committed');
    await source.close();
    sub.unsubscribe();
    const st = source.stats();
    expect(st.acked).toBe(40);
    expect(st.maxInFlight).toBeLessThanOrEqual(5);
    expect(maxConcurrent).toBeLessThanOrEqual(5);
    expect(st.pauses).toBeGreaterThan(3);
    expect(st.paused).toBe(false);
  });

  it('stays in the group while blocked on credit for longer than the session timeout', async () => {
    const [inT, groupId] = [unique('hb'), unique('g')];
    await admin.ensureTopics([{ topic: inT }]);
    const producer = client.producer();
    await producer.send(inT, Array.from({ length: 5 }, (_, i) => ({ key: `h${i}`, value: Buffer.from([0x89, 0x50, i]) })));
    await producer.stop();
    // One job at a time, 1.6 s each, one record per fetch: the batch handler is blocked on credit for
    // about 8 s in all, beyond the 6 s session timeout. The member must stay (one join, no eviction).
    // What keeps it alive is shared: the source's heartbeats, the client's heartbeat on empty fetches
    // of paused partitions, and the broker counting each offset commit as a sign of life.
    const source = createKafkaSource({
      client, topics: [inT], consumer: { groupId, sessionTimeout: 6000, heartbeatInterval: 1000, maxBytesPerPartition: 16 },
      deadLetter: async () => { throw new Error('no dead letters expected'); },
      highWater: 1, lowWater: 0, heartbeatMs: 500,
    });
    const sub = source.jobs$.pipe(mergeMap((job) => timer(1600).pipe(mergeMap(() => job.ack())))).subscribe();
    await waitFor(async () => (await admin.lag(groupId, inT)) === 0, 'all 5 committed', 30000);
    const st = source.stats();
    await source.close();
    sub.unsubscribe();
    expect(st.acked).toBe(5);
    expect(st.rebalances).toBe(1);
    expect(st.maxInFlight).toBe(1);
  });
  it('fails loudly, leaving the offset uncommitted, when a dead letter can never be produced', async () => {
    const [inT, groupId] = [unique('dlq-refused'), unique('g')];
    await admin.ensureTopics([{ topic: inT }]);
    const producer = client.producer();
    await producer.send(inT, [{ key: 'txt', value: 'not an image', headers: { 'content-type': 'text/plain' } }]);
    await producer.stop();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const source = createKafkaSource({
      client, topics: [inT], consumer: { groupId, sessionTimeout: 6000, heartbeatInterval: 500 },
      // What the broker answers for a record it will never take: retrying cannot help.
      deadLetter: async () => { throw Object.assign(new Error('the dead letter is too large'), { type: 'MESSAGE_TOO_LARGE' }); },
      drainTimeoutMs: 2000,
    });
    try {
      const error = await new Promise<Error>((resolve) => source.jobs$.subscribe({ error: resolve }));
      expect(error.message).toMatch(/dead-letter for dlq-refused\S*\/0@0 failed: the dead letter is too large/);
      expect(unhandled).toEqual([]);
      expect(await admin.lag(groupId, inT)).toBe(1);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await source.close();
    }
  });
});
