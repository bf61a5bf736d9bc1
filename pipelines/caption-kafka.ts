/**
 * The caption service on Kafka: the same graph as `captioner watch` (captionJobs), fed by a Kafka
 * consumer group and writing to Kafka.
 * ```
 * kafka source (group G, topic IN) ─> captionJobs (decode ─> batch-within ─> replica pool ─> to-results)
 *   ─> settle: ok  -> kafka sink (OUT, acks=all) -> job.ack()  -> offset commit
 *              !ok -> job.fail() -> dead-letter record (DLQ, acks=all) -> offset commit
 *   ─> feed (WebSocket) when a port is given
 * ```
 * At least once: an input offset is committed only after its result or dead letter was acknowledged
 * (see src/sources/kafka-source.ts). Scale out by starting more processes with the same --group:
 * Kafka splits the partitions of IN among them and moves them when one dies.
 */
import { mergeMap, tap } from 'rxjs';
import { captionJobs, outcomeMessage } from './caption-folder.js';
import { createKafkajsClient } from '../src/kafka/kafkajs-client.js';
import type { KafkaClientOptions } from '../src/kafka/options.js';
import type { KafkaClient } from '../src/kafka/types.js';
import { ReplicaPool } from '../src/runtime/replica-pool.js';
import { describeNative } from '../src/backend/index.js';
import type { CaptionOutcome } from '../src/sinks/caption-record.js';
import { FeedServer } from '../src/sinks/feed-server.js';
import { createKafkaSink, type KafkaSink } from '../src/sinks/kafka-sink.js';
import { ServiceMetrics } from '../src/sinks/service-metrics.js';
import { createKafkaSource, type KafkaSource } from '../src/sources/kafka-source.js';

export interface CaptionKafkaOptions {
  /** Client settings (brokers, TLS, SASL, retries); or pass `client` to share one. */
  kafka?: KafkaClientOptions;
  client?: KafkaClient;
  /** Input topic(s). */
  inTopics: string[];
  outTopic: string;
  /** Dead-letter topic [<first input topic>.dead-letter]. */
  deadLetterTopic?: string;
  /** Consumer group [captioner]. */
  groupId?: string;
  /** Create missing topics (1 partition unless they exist) before starting [false]. */
  createTopics?: boolean;
  /** Partitions of topics created by createTopics [1]. */
  partitions?: number;
  /** Checkpoint directory. */
  modelDir: string;
  /** Root directory for path-reference records. */
  allowRoot?: string;
  /** Largest image in a record, bytes [20 MiB]. */
  maxBytes?: number;
  workers?: number;
  backend?: string;
  maxBatch?: number;
  maxDelayMs?: number;
  beamSize?: number;
  /** Weight of detector re-ranking (CaptionOptions.detectorRerank; default: the model's). */
  detectorRerank?: number;
  /** Jobs in flight at most [max(16, 4 * maxBatch * workers)]. */
  highWater?: number;
  /** Session timeout of the group member, ms [30000]: how fast a dead worker's partitions move. */
  sessionTimeout?: number;
  /** Feed server port; null (default) runs without one. */
  port?: number | null;
  /** When the port is taken, serve on a free one instead of failing [false]. */
  portFallback?: boolean;
  host?: string;
  token?: string;
  log?: (line: string) => void;
}

export interface CaptionKafkaService {
  readonly pool: ReplicaPool;
  readonly source: KafkaSource;
  readonly sink: KafkaSink;
  readonly metrics: ServiceMetrics;
  readonly feed?: FeedServer;
  /** Settles when the graph completes (after stop()) or errors (e.g. the broker is gone for good). */
  readonly done: Promise<void>;
  /** Graceful: stop fetching, finish and commit in-flight jobs, leave the group, close everything. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the Kafka caption service: replicas first (a bad model fails before joining the group). */
export async function startCaptionKafka(options: CaptionKafkaOptions): Promise<CaptionKafkaService> {
  const log = options.log ?? (() => undefined);
  if (!options.client && !options.kafka) throw new TypeError('startCaptionKafka needs `kafka` options or a `client`');
  const client = options.client ?? createKafkajsClient(options.kafka!);
  const groupId = options.groupId ?? 'captioner';
  const deadLetterTopic = options.deadLetterTopic ?? `${options.inTopics[0]}.dead-letter`;
  const maxBatch = options.maxBatch ?? 8;
  {
    // Fail before loading the model when a topic is missing: the producer never auto-creates
    // topics, so a typo in --out would otherwise surface as dead letters or a crash much later.
    const admin = client.admin();
    try {
      const topics = [...options.inTopics, options.outTopic, deadLetterTopic];
      if (options.createTopics) {
        await admin.ensureTopics(topics.map((topic) => ({ topic, partitions: options.partitions ?? 1 })));
      } else {
        const missing = await admin.missingTopics(topics);
        if (missing.length > 0) {
          throw new RangeError(`Kafka topic(s) ${missing.join(', ')} do not exist: create them (e.g. kafka-topics.sh --create) or pass --create-topics`);
        }
      }
    } finally {
      await admin.stop();
    }
  }
  const pool = await ReplicaPool.start({ modelDir: options.modelDir, workers: options.workers, backend: options.backend });
  const info = pool.info;
  const beam = await pool.serviceBeam(options.beamSize ?? 3, options.detectorRerank);
  log(`model ${info.modelId} on backend ${info.backend} (${info.tfBackend}${info.native ? `, ${describeNative(info.native)}` : ''}), ${pool.size} replica(s)`);
  const metrics = new ServiceMetrics();
  metrics.setBackend(info);
  const sink = createKafkaSink({ client, topic: options.outTopic, deadLetterTopic });
  const source = createKafkaSource({
    client,
    topics: options.inTopics,
    consumer: { groupId, sessionTimeout: options.sessionTimeout ?? 30000, heartbeatInterval: Math.min(3000, Math.floor((options.sessionTimeout ?? 30000) / 3)) },
    deadLetter: sink.deadLetter,
    allowRoot: options.allowRoot,
    maxBytes: options.maxBytes,
    highWater: options.highWater ?? Math.max(16, 4 * maxBatch * pool.size),
  });
  let feed: FeedServer | undefined;
  try {
    if (options.port !== undefined && options.port !== null) {
      feed = await FeedServer.start({
        port: options.port,
        fallbackToFreePort: options.portFallback,
        host: options.host,
        token: options.token,
        metrics,
        hello: { server: 'captioner', modelId: info.modelId, backend: info.backend, mode: 'kafka' },
        isReady: () => pool.warm,
      });
      log(`dashboard: ${feed.address().url}/  (WebSocket feed, /metrics, /health/ready)`);
    }
  } catch (e) {
    await pool.dispose();
    await sink.close();
    throw e;
  }
  metrics.attach({
    queueDepths: () => ({ pool: pool.queueDepth }),
    inFlight: () => source.stats().inFlight,
    tensors: () => pool.memory(),
    workers: () => pool.size,
  });

  let stopping = false;
  const settle = async (o: CaptionOutcome): Promise<void> => {
    let outcome = o;
    if (o.ok) {
      try {
        await sink.write(o.record);
      } catch (e) {
        outcome = { ok: false, job: o.job, reason: 'sink-error', message: `producing the result to ${options.outTopic} failed: ${(e as Error).message}` };
      }
    }
    if (!outcome.ok && (outcome.reason === 'shutdown' || (stopping && outcome.reason === 'replica-crashed'))) {
      // Not the input's fault: leave the offset uncommitted so the record is captioned after restart.
      log(`left for redelivery ${outcome.job.source}: ${outcome.reason}`);
      return;
    }
    if (outcome.ok) await outcome.job.ack();
    else await outcome.job.fail(outcome.reason, outcome.message);
    metrics.outcome(outcome);
    feed?.publish(outcomeMessage(outcome));
    if (!outcome.ok) log(`dead-lettered ${outcome.job.source}: ${outcome.reason}: ${outcome.message}`);
  };

  const done = new Promise<void>((res, rej) => {
    captionJobs(source.jobs$.pipe(tap(() => metrics.jobIn())), {
      runner: pool,
      preprocess: info.preprocess,
      meta: { modelId: info.modelId, backend: info.backend },
      maxBatch,
      maxDelayMs: options.maxDelayMs,
      batchConcurrency: pool.size,
      maxFileBytes: options.maxBytes,
      beam,
      onBatch: (n) => metrics.batch(n),
    })
      .pipe(mergeMap(settle, 64))
      .subscribe({ error: rej, complete: res });
  });
  done.catch(() => undefined);
  try {
    await Promise.race([source.ready, done]);
  } catch (e) {
    await source.close().catch(() => undefined);
    await Promise.allSettled([sink.close(), feed?.close(), pool.dispose()]);
    throw e;
  }
  log(`consuming ${options.inTopics.join(', ')} as group ${groupId}; results to ${options.outTopic}, dead letters to ${deadLetterTopic}`);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      await source.close();
      await done.catch((e: unknown) => log(`pipeline error: ${(e as Error).message}`));
      await sink.close();
      await feed?.close();
      await pool.dispose();
    })());
  return { pool, source, sink, metrics, feed, done, stop };
}
