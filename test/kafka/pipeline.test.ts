import { describe, expect, it } from 'vitest';
import { kafkaBrokers, readRecords, unique, waitFor } from './broker-env.js';
import { useKafkaWorkers } from './worker-fixture.js';
import { WebSocket } from 'ws';
import { startCaptionKafka } from '../../pipelines/caption-kafka.js';
import type { FeedMessage } from '../../src/protocol/messages.js';
import type { CaptionRecordValue } from '../../src/kafka/formats.js';

const brokers = kafkaBrokers();

describe.skipIf(!brokers)('caption-kafka pipeline on the real broker with a tiny model', () => {
  const { client, admin, state, startWorker, produceImages, outputIds } = useKafkaWorkers(brokers ?? []);

  it('captions N images end to end in-process: results with model words and attention, a dead letter, offsets committed', async () => {
    const [inT, outT, dlqT, groupId] = [unique('pin'), unique('pout'), unique('pdlq'), unique('pg')];
    await admin.ensureTopics([{ topic: inT, partitions: 2 }, { topic: outT }, { topic: dlqT }]);
    const ids = Array.from({ length: 12 }, (_, i) => `img-${i}`);
    const service = await startCaptionKafka({
      client, inTopics: [inT], outTopic: outT, deadLetterTopic: dlqT, groupId, modelDir: state.modelDir, workers: 1, backend: 'cpu', port: 0, maxBatch: 4,
    });
    const feed: FeedMessage[] = [];
    const ws = new WebSocket(service.feed!.address().url.replace(/^http/, 'ws'));
    ws.on('message', (d: Buffer) => feed.push(JSON.parse(d.toString()) as FeedMessage));
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    try {
      const tensorsBefore = service.pool.memory().numTensors;
      await produceImages(inT, ids);
      const producer = client.producer();
      await producer.send(inT, [{ key: 'broken', value: Buffer.from('\x89PNG\r\n\x1a\n garbage'), headers: { 'content-type': 'image/png' } }]);
      await producer.stop();
      await waitFor(async () => (await admin.lag(groupId, inT)) === 0, 'lag 0', 45000);
      const metrics = await (await fetch(`${service.feed!.address().url}/metrics`)).text();
      expect(metrics).toMatch(/captioner_images_out_total 12/);
      await waitFor(() => feed.filter((m) => m.type === 'caption').length === 12, '12 caption messages on the feed', 10000);
      expect(feed[0]).toMatchObject({ type: 'hello', mode: 'kafka' });
      expect(feed.filter((m) => m.type === 'caption.failed').map((m) => m.id)).toEqual(['broken']);
      // Replicas hold no tensors per image: the count after captioning equals the warm count.
      expect(service.pool.memory().numTensors).toBe(tensorsBefore);
    } finally {
      ws.close();
      await service.stop();
    }
    const out = await readRecords(client, outT, 12);
    const values = out.map((r) => JSON.parse(r.value!.toString()) as CaptionRecordValue);
    expect(new Set(values.map((v) => v.id))).toEqual(new Set(ids));
    const vocab = new Set(['a', 'red', 'green', 'blue', 'circle', 'square', '<unk>']);
    for (const v of values) {
      expect(v.words.every((w) => vocab.has(w))).toBe(true);
      expect(v.attention.gridSize).toBe(2);
      expect(v.attention.maps.length).toBeGreaterThanOrEqual(v.words.length + (v.finished ? 1 : 0));
      expect(v.attention.maps.length).toBeLessThanOrEqual(50);
      if (v.attention.words) expect(v.attention.words).toHaveLength(v.attention.maps.length);
      expect(Buffer.from(v.attention.maps[0]!, 'base64')).toHaveLength(4);
      expect(v.timings.total).toBeGreaterThan(0);
    }
    const dead = await readRecords(client, dlqT, 1);
    expect(dead[0]!.key!.toString()).toBe('broken');
    expect(['corrupt', 'unsupported']).toContain(dead[0]!.headers['x-dead-letter-reason']);
  });

  it('survives kill -9 of a worker mid-stream: after a restart every id is in the output', async () => {
    const [inT, outT, groupId] = [unique('kin'), unique('kout'), unique('kg')];
    await admin.ensureTopics([{ topic: inT, partitions: 2 }, { topic: outT }, { topic: `${inT}.dead-letter` }]);
    const ids = Array.from({ length: 40 }, (_, i) => `k-${i}`);
    await produceImages(inT, ids);
    const first = await startWorker(['--in', inT, '--out', outT, '--group', groupId, '--high-water', '8']);
    await waitFor(async () => (await admin.endOffsets(outT)).reduce((s, o) => s + Number(o.offset), 0) >= 5, 'first results');
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const lagAtKill = await admin.lag(groupId, inT);
    expect(lagAtKill).toBeGreaterThan(0); // the kill really interrupted the stream
    await startWorker(['--in', inT, '--out', outT, '--group', groupId]);
    await waitFor(async () => (await admin.lag(groupId, inT)) === 0, 'lag 0 after restart', 60000);
    const got = await outputIds(outT, ids.length);
    expect([...got].sort()).toEqual([...ids].sort());
  }, 120_000); // two worker start-ups and a take-over: generous for a loaded CI machine
});
