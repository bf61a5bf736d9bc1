import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OffsetTracker } from '../../src/kafka/offset-tracker.js';
import { parseBrokerList, resolveKafkaOptions, validateKafkaOptions } from '../../src/kafka/options.js';

describe('OffsetTracker: commit the highest contiguous finished offset', () => {
  it('holds the commit point behind the oldest unfinished record, per partition', () => {
    const t = new OffsetTracker();
    const a = ['10', '11', '12', '13'].map((o) => t.track('t', 0, o));
    const b = t.track('t', 1, '5');
    expect(t.finish(a[1]!)).toBe(false);
    expect(t.finish(a[3]!)).toBe(false);
    expect(t.takeCommittable()).toEqual([]);
    expect(t.finish(a[0]!)).toBe(true);
    expect(t.takeCommittable()).toEqual([{ topic: 't', partition: 0, offset: '12' }]);
    expect(t.finish(b)).toBe(true);
    expect(t.finish(a[2]!)).toBe(true);
    expect(t.takeCommittable().sort((x, y) => x.partition - y.partition)).toEqual([
      { topic: 't', partition: 0, offset: '14' },
      { topic: 't', partition: 1, offset: '6' },
    ]);
    expect(t.pending()).toBe(0);
  });

  it('ignores finishes from before a rebalance and restores failed commits', () => {
    const t = new OffsetTracker();
    const old = t.track('t', 0, '0');
    t.reset();
    expect(t.finish(old)).toBe(false);
    const fresh = t.track('t', 0, '0');
    t.finish(fresh);
    const c = t.takeCommittable();
    t.restore(c);
    expect(t.takeCommittable()).toEqual(c);
    expect(t.finish(fresh)).toBe(false); // twice is a no-op
  });
});

describe('Kafka options: validation names the option', () => {
  it('parses and rejects broker lists', () => {
    expect(parseBrokerList('127.0.0.1:9092, b:1')).toEqual(['127.0.0.1:9092', 'b:1']);
    expect(() => parseBrokerList('localhost')).toThrow(/^--brokers: "localhost" is not host:port/);
    expect(() => parseBrokerList(' , ')).toThrow(/^--brokers: at least one broker/);
    expect(() => parseBrokerList('h:70000')).toThrow(/^--brokers:/);
  });

  it('validates nested fields with their path', () => {
    expect(() => validateKafkaOptions({ brokers: ['a:1'], retry: { retries: -1 } })).toThrow(/^retry\.retries: must be a non-negative integer/);
    expect(() => validateKafkaOptions({ brokers: ['a:1'], sasl: { mechanism: 'gssapi' } })).toThrow(/^sasl\.mechanism: must be one of plain/);
    expect(() => validateKafkaOptions({ brokers: ['a:1'], ssl: { cert: '/c.pem' } })).toThrow(/^ssl\.key: mutual TLS/);
    expect(() => validateKafkaOptions({ brokers: ['a:1'], brokerz: 1 })).toThrow(/^brokerz: unknown option/);
    expect(() => validateKafkaOptions({ brokers: ['a:1'], logLevel: 'loud' })).toThrow(/^logLevel:/);
  });

  it('merges a JSON config file under CLI flags and names the file in errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kafka-opts-'));
    try {
      const file = join(dir, 'kafka.json');
      await writeFile(file, JSON.stringify({ brokers: ['f:1'], clientId: 'from-file', retry: { retries: 2, maxRetryTime: 5000 } }));
      const o = await resolveKafkaOptions(file, { brokers: ['flag:2'], retry: { retries: 7 } });
      expect(o).toEqual({ brokers: ['flag:2'], clientId: 'from-file', retry: { retries: 7, maxRetryTime: 5000 } });
      expect(await resolveKafkaOptions(file, {})).toMatchObject({ brokers: ['f:1'] });
      await writeFile(file, JSON.stringify({ brokers: ['f:1'], requestTimeout: 'soon' }));
      await expect(resolveKafkaOptions(file, {})).rejects.toThrow(`${file}: requestTimeout: must be a positive integer`);
      await writeFile(file, '{ nope');
      await expect(resolveKafkaOptions(file, {})).rejects.toThrow(/^--config: .* is not valid JSON/);
      await expect(resolveKafkaOptions(undefined, {})).rejects.toThrow(/^--brokers: no brokers/);
      await expect(resolveKafkaOptions(join(dir, 'missing.json'), {})).rejects.toThrow(/^--config: cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
