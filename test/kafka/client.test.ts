import { afterAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, testClient, unique, waitFor } from './broker-env.js';
import type { ConsumedRecord } from '../../src/kafka/types.js';

const brokers = kafkaBrokers();

describe.skipIf(!brokers)('kafkajs client against the real broker', () => {
  const client = testClient(brokers ?? []);
  const admin = client.admin();
  afterAll(() => admin.stop());

  it('round-trips keys, values and headers; commits explicitly; lag reaches 0', async () => {
    const topic = unique('rt');
    const groupId = unique('g');
    await admin.ensureTopics([{ topic, partitions: 2 }]);
    const producer = client.producer();
    const sent = Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: Buffer.from([i, 255 - i]), headers: { id: `id-${i}` } }));
    await producer.send(topic, sent);
    await producer.stop();
    await producer.stop(); // idempotent

    expect(await admin.lag(groupId, topic)).toBe(20);
    const consumer = client.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 1000 });
    const got: ConsumedRecord[] = [];
    await consumer.subscribe([topic], { fromBeginning: true });
    await consumer.run({
      eachMessage: async (r) => {
        got.push(r);
        await consumer.commit([{ topic: r.topic, partition: r.partition, offset: String(Number(r.offset) + 1) }]);
      },
    });
    await waitFor(() => got.length === 20, '20 records');
    await waitFor(async () => (await admin.lag(groupId, topic)) === 0, 'lag 0');
    await Promise.all([consumer.stop(), consumer.stop()]);

    const byKey = new Map(got.map((r) => [r.key?.toString(), r]));
    for (const s of sent) {
      const r = byKey.get(s.key)!;
      expect(r.value).toEqual(s.value);
      expect(r.headers.id).toBe(s.headers.id);
    }
    expect(new Set(got.map((r) => r.partition)).size).toBe(2); // keys spread over both partitions
  });

  it('fetches unresolved records of a batch again instead of skipping them', async () => {
    const topic = unique('resolve');
    await admin.ensureTopics([{ topic }]);
    const producer = client.producer();
    await producer.send(topic, Array.from({ length: 6 }, (_, i) => ({ key: `r${i}`, value: `v${i}` })));
    await producer.stop();
    const consumer = client.consumer({ groupId: unique('g'), sessionTimeout: 10000, heartbeatInterval: 1000 });
    const seen: string[] = [];
    await consumer.subscribe([topic], { fromBeginning: true });
    // Take only the first record of every batch, as a handler that stops early would.
    await consumer.run({
      eachBatch: async (rs, ctx) => {
        seen.push(rs[0]!.offset);
        ctx.resolveOffset(rs[0]!.offset);
      },
    });
    await waitFor(() => seen.length >= 6, 'six single-record takes');
    await consumer.stop();
    expect(seen.slice(0, 6)).toEqual(['0', '1', '2', '3', '4', '5']);
  });

  it('rejects a heartbeat interval not below the session timeout, naming the option', () => {
    expect(() => client.consumer({ groupId: 'x', sessionTimeout: 3000, heartbeatInterval: 3000 })).toThrow(/^heartbeatInterval: \(3000\) must be lower than sessionTimeout/);
  });
});
