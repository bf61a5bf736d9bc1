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
 *
 * The broker going away is weather, not an error: results and dead letters are retried until the
 * broker takes them (their jobs keep their credit, so the source pauses), readiness reports
 * 'broker-unreachable' (GET /health/ready, the feed's stats), the client library reconnects by
 * itself, and processing resumes. Records in flight at the outage may be captioned twice (same key).
 * Shutdown is bounded by `shutdownGraceMs` whatever the broker does: what is not finished by then
 * stays uncommitted and is delivered again. At start the broker is awaited for `brokerWaitMs`.
 */
import { mergeMap, tap } from 'rxjs';
import { captionJobs, describePool, outcomeMessage } from './caption-folder.js';
import { anyBrokerAnswers, BrokerWatch } from '../src/kafka/broker-watch.js';
import { deliverPatiently, StopFlag } from '../src/kafka/deliver.js';
import { createKafkajsClient } from '../src/kafka/kafkajs-client.js';
import { waitForBroker } from '../src/kafka/wait-for-broker.js';
import type { KafkaClientOptions } from '../src/kafka/options.js';
import type { KafkaClient, MessageAdmin } from '../src/kafka/types.js';
import { coalesceLimit, ReplicaPool } from '../src/runtime/replica-pool.js';
import type { CaptionOutcome } from '../src/sinks/caption-record.js';
import { checkFeedOptions, FeedServer } from '../src/sinks/feed-server.js';
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
  /** Origins besides the feed's own whose pages may use it (FeedServerOptions.allowOrigins). */
  allowOrigins?: string[];
  /** Host names served besides loopback names and the bound address (FeedServerOptions.allowHosts). */
  allowHosts?: string[];
  /** How long start-up waits for the cluster to answer, retrying with backoff, ms [30000]. */
  brokerWaitMs?: number;
  /** stop() finishes within this whatever the broker does; unfinished records stay uncommitted, ms [10000]. */
  shutdownGraceMs?: number;
  /** Bootstrap brokers to probe for readiness when `client` is given instead of `kafka` [kafka.brokers]. */
  brokers?: string[];
  /** How often the brokers are probed for readiness, ms [1000]. */
  brokerProbeMs?: number;
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
  /** Why the service is not ready ('warming-up', 'broker-unreachable', 'consumer-reconnecting'), or undefined when it is. */
  unready(): string | undefined;
  /** Graceful within shutdownGraceMs: stop fetching, finish and commit in-flight jobs, leave the group, close everything. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the Kafka caption service: replicas first (a bad model fails before joining the group). */
export async function startCaptionKafka(options: CaptionKafkaOptions): Promise<CaptionKafkaService> {
  const log = options.log ?? (() => undefined);
  if (!options.client && !options.kafka) throw new TypeError('startCaptionKafka needs `kafka` options or a `client`');
  if (options.port !== undefined && options.port !== null) checkFeedOptions(options);
  const client = options.client ?? createKafkajsClient(options.kafka!);
  const groupId = options.groupId ?? 'captioner';
  const deadLetterTopic = options.deadLetterTopic ?? `${options.inTopics[0]}.dead-letter`;
  const maxBatch = options.maxBatch ?? 8;
  const brokers = options.kafka?.brokers ?? options.brokers;
  const topics = [...options.inTopics, options.outTopic, deadLetterTopic];
  // One quiet attempt at a time, one log line per retry: a TCP probe of the bootstrap brokers (the
  // client library's connect retries for seconds on its own), then an admin call that also answers
  // which topics are missing.
  const withAdmin = async <T>(fn: (admin: MessageAdmin) => Promise<T>): Promise<T> => {
    const admin = client.admin();
    try {
      return await fn(admin);
    } finally {
      await admin.stop().catch(() => undefined);
    }
  };
  const missing = await waitForBroker(
    async () => {
      if (brokers) await anyBrokerAnswers(brokers);
      return withAdmin((admin) => admin.missingTopics(topics));
    },
    { brokers: brokers ?? ['(client)'], waitMs: options.brokerWaitMs ?? 30_000, log },
  );
  // Fail before loading the model when a topic is missing: the producer never auto-creates
  // topics, so a typo in --out would otherwise surface as dead letters or a crash much later.
  if (options.createTopics) {
    // Also for existing topics: ensureTopics waits until each partition has a leader.
    await withAdmin((admin) => admin.ensureTopics(topics.map((topic) => ({ topic, partitions: options.partitions ?? 1 }))));
  } else if (missing.length > 0) {
    throw new RangeError(`Kafka topic(s) ${missing.join(', ')} do not exist: create them (e.g. kafka-topics.sh --create) or pass --create-topics`);
  }
  const pool = await ReplicaPool.start({ modelDir: options.modelDir, workers: options.workers, backend: options.backend, coalesceUpTo: coalesceLimit(maxBatch) });
  const info = pool.info;
  const beam = await pool.serviceBeam(options.beamSize ?? 3, options.detectorRerank);
  log(describePool(pool));
  const metrics = new ServiceMetrics();
  metrics.setBackend(info);
  const sink = createKafkaSink({ client, topic: options.outTopic, deadLetterTopic });
  const grace = options.shutdownGraceMs ?? 10_000;
  let consumerUp = true;
  const watch = brokers
    ? new BrokerWatch(brokers, (ok, detail) =>
        log(ok ? `Kafka reachable again ${detail}` : `Kafka unreachable (${detail}): results and offsets wait; reconnecting by itself`),
      options.brokerProbeMs ?? 1000)
    : undefined;
  watch?.start();
  const unready = (): string | undefined =>
    !pool.warm ? 'warming-up' : watch && !watch.reachable ? 'broker-unreachable' : !consumerUp ? 'consumer-reconnecting' : undefined;
  const source = createKafkaSource({
    client,
    topics: options.inTopics,
    consumer: { groupId, sessionTimeout: options.sessionTimeout ?? 30000, heartbeatInterval: Math.min(3000, Math.floor((options.sessionTimeout ?? 30000) / 3)) },
    deadLetter: sink.deadLetter,
    allowRoot: options.allowRoot,
    maxBytes: options.maxBytes,
    highWater: options.highWater ?? Math.max(16, 4 * maxBatch * pool.size),
    drainTimeoutMs: grace,
    onConnection: (up, detail) => {
      if (up === consumerUp) return;
      consumerUp = up;
      log(up ? `consumer ${detail} again` : `consumer lost the cluster: ${detail}`);
    },
  });
  let feed: FeedServer | undefined;
  try {
    if (options.port !== undefined && options.port !== null) {
      feed = await FeedServer.start({
        port: options.port,
        fallbackToFreePort: options.portFallback,
        host: options.host,
        token: options.token,
        allowOrigins: options.allowOrigins,
        allowHosts: options.allowHosts,
        warn: log,
        metrics,
        hello: { server: 'captioner', modelId: info.modelId, backend: info.backend, mode: 'kafka' },
        isReady: () => unready() === undefined,
        unreadyStatus: () => unready() ?? 'ready',
      });
      log(`dashboard: ${feed.address().url}/  (WebSocket feed, /metrics, /health/ready)`);
    }
  } catch (e) {
    watch?.stop();
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

  const stopping = new StopFlag();
  const settle = async (o: CaptionOutcome): Promise<void> => {
    let outcome = o;
    if (o.ok) {
      try {
        if (!(await deliverPatiently(() => sink.write(o.record), stopping))) {
          log(`left for redelivery ${o.job.source}: the broker did not take its result before shutdown`);
          return;
        }
      } catch (e) {
        outcome = { ok: false, job: o.job, reason: 'sink-error', message: `producing the result to ${options.outTopic} failed: ${(e as Error).message}` };
      }
    }
    if (!outcome.ok && (outcome.reason === 'shutdown' || (stopping.stopped && outcome.reason === 'replica-crashed'))) {
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
      // A few batches may wait at the pool so that it can merge those that formed small while busy.
      batchConcurrency: pool.size + 4,
      maxFileBytes: options.maxBytes,
      maxFileBytesOption: '--max-bytes',
      beam,
      thumbnails: () => feed?.wantsThumbnails ?? false,
      onBatch: (n) => metrics.batch(n),
    })
      .pipe(mergeMap(settle, 64))
      .subscribe({ error: rej, complete: res });
  });
  done.catch(() => undefined);
  try {
    await Promise.race([source.ready, done]);
  } catch (e) {
    watch?.stop();
    await source.close().catch(() => undefined);
    await Promise.allSettled([sink.close(), feed?.close(), pool.dispose()]);
    throw e;
  }
  log(`consuming ${options.inTopics.join(', ')} as group ${groupId}; results to ${options.outTopic}, dead letters to ${deadLetterTopic}`);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      stopping.stop();
      const graceful = (async () => {
        await source.close();
        await done.catch((e: unknown) => log(`pipeline error: ${(e as Error).message}`));
        await sink.close();
        await feed?.close();
        await pool.dispose();
      })();
      let timer: NodeJS.Timeout | undefined;
      const expired = await Promise.race([graceful.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), grace)))]);
      clearTimeout(timer);
      watch?.stop();
      if (expired) {
        // The broker (or a replica) did not let us finish: what is not committed is delivered again.
        log(`shutdown grace of ${grace} ms passed with ${source.stats().inFlight} record(s) in flight; they stay uncommitted and are delivered again at the next start`);
        await feed?.close();
      }
    })());
  return { pool, source, sink, metrics, feed, done, unready, stop };
}
