import { captionRecord, deadLetterRecord, type CaptionOutput } from '../kafka/formats.js';
import type { ConsumedRecord, KafkaClient, MessageProducer, OutgoingRecord } from '../kafka/types.js';

/**
 * Produces caption results and dead letters (formats in src/kafka/formats.ts).
 *
 * Every returned promise resolves only once the broker acknowledged the record with acks=all, so the
 * caller may then ack the job and let the source commit its offset. Records handed in during the same
 * event-loop turn go out in one produce request per topic (a few ms of linger at most), which is what
 * keeps acks=all affordable at hundreds of records per second.
 */
export interface KafkaSinkOptions {
  client: KafkaClient;
  /** Topic of caption results. */
  topic: string;
  /** Topic of dead letters; without it a failed input is only logged (and its offset still commits). */
  deadLetterTopic?: string;
  /** Dead-letter values larger than this are replaced by a reference (bytes, default 1 MiB). */
  maxDeadLetterValueBytes?: number;
  /** Most records per produce request (default 100). */
  maxBatch?: number;
}

export interface KafkaSinkStats {
  produced: number;
  deadLettered: number;
  requests: number;
}

export interface KafkaSink {
  /** Produces one caption result; resolves once acknowledged. */
  write(result: CaptionOutput): Promise<void>;
  /** Produces the dead-letter record for `record`; resolves once acknowledged. */
  deadLetter(record: ConsumedRecord, reason: string, message: string): Promise<void>;
  stats(): KafkaSinkStats;
  /** Waits for pending sends and disconnects. Idempotent. */
  close(): Promise<void>;
}

/** Creates a Kafka sink with its own producer (closed by close()). */
export function createKafkaSink(options: KafkaSinkOptions): KafkaSink {
  const producer: MessageProducer = options.client.producer();
  const maxBatch = options.maxBatch ?? 100;
  const stats: KafkaSinkStats = { produced: 0, deadLettered: 0, requests: 0 };
  const queues = new Map<string, Array<{ record: OutgoingRecord; done: (e?: unknown) => void }>>();
  const pending = new Set<Promise<void>>();
  let scheduled = false;
  let closed: Promise<void> | undefined;

  const flush = (): void => {
    scheduled = false;
    for (const [topic, q] of queues) {
      while (q.length > 0) {
        const chunk = q.splice(0, maxBatch);
        stats.requests++;
        const p = producer
          .send(topic, chunk.map((c) => c.record))
          .then(
            () => chunk.forEach((c) => c.done()),
            (e: unknown) => chunk.forEach((c) => c.done(e)),
          )
          .finally(() => pending.delete(p));
        pending.add(p);
      }
    }
    queues.clear();
  };

  const enqueue = (topic: string, record: OutgoingRecord): Promise<void> => {
    if (closed) return Promise.reject(new Error(`kafka sink: write to ${topic} after close()`));
    return new Promise<void>((resolve, reject) => {
      const q = queues.get(topic) ?? [];
      queues.set(topic, q);
      q.push({ record, done: (e) => (e === undefined ? resolve() : reject(e)) });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  };

  return {
    async write(result) {
      await enqueue(options.topic, captionRecord(result));
      stats.produced++;
    },
    async deadLetter(record, reason, message) {
      if (options.deadLetterTopic === undefined) {
        console.warn(`kafka sink: no dead-letter topic; dropping ${record.topic}/${record.partition}@${record.offset} (${reason}: ${message})`);
        return;
      }
      await enqueue(options.deadLetterTopic, deadLetterRecord(record, reason, message, { maxValueBytes: options.maxDeadLetterValueBytes }));
      stats.deadLettered++;
    },
    stats: () => ({ ...stats }),
    close: () =>
      (closed ??= (async () => {
        if (scheduled) flush();
        await Promise.allSettled([...pending]);
        await producer.stop();
      })()),
  };
}
