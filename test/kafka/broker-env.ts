import { randomBytes } from 'node:crypto';
import { createKafkajsClient } from '../../src/kafka/kafkajs-client.js';
import type { ConsumedRecord, KafkaClient } from '../../src/kafka/types.js';

/**
 * The broker the Kafka tests talk to: KAFKA_BROKERS (set by .ci/run after `.ci/kafka/broker.sh start`).
 * Locally, unset means the tests skip with a loud notice; with CI=true a missing broker is a failure,
 * so CI can never go green without having run them.
 */
export function kafkaBrokers(): string[] | undefined {
  const v = process.env.KAFKA_BROKERS?.trim();
  if (v) return v.split(',');
  if (process.env.CI === 'true') {
    throw new Error('CI=true but KAFKA_BROKERS is not set: start the broker (.ci/kafka/broker.sh start) and export its address');
  }
  console.warn(
    '\n' + '!'.repeat(78) + '\n!!! KAFKA TESTS SKIPPED: KAFKA_BROKERS is not set.\n' +
      '!!! Run: export KAFKA_BROKERS=$(.ci/kafka/broker.sh start)   (and .ci/kafka/broker.sh stop after)\n' +
      '!'.repeat(78) + '\n',
  );
  return undefined;
}

/** A topic or group name no other test (or earlier run) uses. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function testClient(brokers: string[]): KafkaClient {
  return createKafkajsClient({ brokers, clientId: 'captioner-test', logLevel: 'nothing', retry: { retries: 3 } });
}

/** Polls `cond` until true or the timeout passes (then throws with `what`). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads `topic` from the beginning with a fresh group until `n` records arrived (or throws on timeout). */
export async function readRecords(client: KafkaClient, topic: string, n: number, timeoutMs = 30000): Promise<ConsumedRecord[]> {
  const consumer = client.consumer({ groupId: unique('reader'), sessionTimeout: 10000, heartbeatInterval: 1000 });
  const got: ConsumedRecord[] = [];
  try {
    await consumer.subscribe([topic], { fromBeginning: true });
    await consumer.run({
      eachBatch: async (rs, ctx) => {
        got.push(...rs);
        if (rs.length > 0) ctx.resolveOffset(rs[rs.length - 1]!.offset);
      },
    });
    await waitFor(() => got.length >= n, `${n} records on ${topic} (got ${got.length})`, timeoutMs);
    return got;
  } finally {
    await consumer.stop();
  }
}
