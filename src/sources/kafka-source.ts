import { performance } from 'node:perf_hooks';
import { Observable, type Subscriber } from 'rxjs';
import { settleOnce, type FailureReason, type Job } from './job.js';
import { deliverPatiently, StopFlag } from '../kafka/deliver.js';
import { PoisonRecordError } from '../kafka/errors.js';
import { parseInputRecord, recordSource } from '../kafka/formats.js';
import { OffsetTracker } from '../kafka/offset-tracker.js';
import type { BatchContext, ConsumedRecord, ConsumerOptions, KafkaClient, MessageConsumer, TopicPartition } from '../kafka/types.js';

/**
 * Kafka topics as a source of caption jobs, at least once.
 *
 * ## At least once: commit only what is durable downstream
 * Offsets are never auto-committed. A record's offset becomes committable when its job settles:
 * `ack()` (the sink's result record was acknowledged by the broker, acks=all) or `fail()` (the
 * dead-letter record was acknowledged). Per partition the committed position is the highest
 * CONTIGUOUS finished offset + 1 (OffsetTracker), so a crash (even kill -9) loses nothing: every
 * record after the last commit is delivered again, possibly to another group member. Results may
 * therefore repeat (same key); consumers of the output topic deduplicate by key if they must.
 *
 * ## Poison records never block a partition
 * A record that cannot become a job (empty, too large, not an image content type, bad JSON, a path
 * outside --allow-root) goes straight to the dead-letter topic; images that fail to decode later are
 * failed by the graph and dead-lettered the same way. Either way the offset finishes like any other.
 *
 * ## Backpressure: credits at the source
 * Jobs emitted and not yet settled stay at most `highWater`. When the window is full the handler
 * pauses every partition this member owns and waits, heartbeating so the group keeps it, until the
 * count falls to `lowWater`; then it resumes them.
 */
export interface KafkaSourceOptions {
  client: KafkaClient;
  /** Consumer group settings (groupId required). */
  consumer: ConsumerOptions;
  topics: string[];
  /** Start at the earliest offset when the group has no commit yet (default true: no image is skipped). */
  fromBeginning?: boolean;
  /** Produces the dead-letter record; must resolve only once the broker acknowledged it. */
  deadLetter: (record: ConsumedRecord, reason: string, message: string) => Promise<void>;
  /** Root directory for path-reference records; without it they are dead-lettered. */
  allowRoot?: string;
  /** Largest image accepted in a record (bytes, default 20 MiB). */
  maxBytes?: number;
  /** Maximum jobs emitted and not settled (default 64). */
  highWater?: number;
  /** Resume below this many in flight (default highWater / 2). */
  lowWater?: number;
  /** Heartbeat period while waiting for credit (ms, default 1000). */
  heartbeatMs?: number;
  /** How long close() waits for in-flight jobs to settle before leaving the group (ms, default 30000). */
  drainTimeoutMs?: number;
  /** Told when the consumer loses the cluster (false) and when it fetches or joins again (true). */
  onConnection?: (up: boolean, detail: string) => void;
  /** Told when a dead letter could not be produced and is retried (the broker is away). */
  onDeadLetterRetry?: (source: string, attempt: number, error: unknown) => void;
}

export interface KafkaSourceStats {
  received: number;
  inFlight: number;
  maxInFlight: number;
  acked: number;
  failed: number;
  /** Records dead-lettered before becoming jobs. */
  rejected: number;
  commits: number;
  pauses: number;
  paused: boolean;
  rebalances: number;
  assigned: TopicPartition[];
}

export interface KafkaSource {
  /** The jobs; subscribe once. Unsubscribing leaves the group at once (uncommitted work is redelivered). */
  readonly jobs$: Observable<Job>;
  /** Stops fetching, waits for in-flight jobs (drainTimeoutMs), commits, leaves the group, completes jobs$. Idempotent. */
  close(): Promise<void>;
  stats(): KafkaSourceStats;
  /** Resolves once this member joined the group and got its first assignment; rejects if the consumer fails first. */
  readonly ready: Promise<void>;
}

/** Creates a Kafka source; nothing connects until `jobs$` is subscribed. */
export function createKafkaSource(options: KafkaSourceOptions): KafkaSource {
  const { highWater = 64, heartbeatMs = 1000, drainTimeoutMs = 30000, fromBeginning = true } = options;
  const lowWater = options.lowWater ?? Math.floor(highWater / 2);
  if (!Number.isInteger(highWater) || highWater < 1) {
    throw new RangeError(`Kafka source highWater (${highWater}) must be a positive integer`);
  }
  if (!Number.isInteger(lowWater) || lowWater < 0 || lowWater >= highWater) {
    throw new RangeError(`Kafka source lowWater (${lowWater}) must be an integer in [0, highWater (${highWater}))`);
  }
  if (options.topics.length === 0) throw new RangeError('Kafka source needs at least one topic (--in)');

  const tracker = new OffsetTracker();
  const stats: Omit<KafkaSourceStats, 'inFlight' | 'paused' | 'assigned'> = {
    received: 0, maxInFlight: 0, acked: 0, failed: 0, rejected: 0, commits: 0, pauses: 0, rebalances: 0,
  };
  let inFlight = 0;
  let paused = false;
  let assigned: TopicPartition[] = [];
  let consumer: MessageConsumer | undefined;
  let subscriber: Subscriber<Job> | undefined;
  let closing = false;
  const stopFlag = new StopFlag();
  const creditWaiters: Array<() => void> = [];
  const drainWaiters: Array<() => void> = [];
  let committing: Promise<void> | undefined;
  let commitAgain = false;
  let resolveReady!: () => void;
  let rejectReady!: (e: unknown) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => undefined);

  const settled = (): void => {
    inFlight--;
    if (inFlight <= lowWater) for (const w of creditWaiters.splice(0)) w();
    if (inFlight === 0) for (const w of drainWaiters.splice(0)) w();
  };

  // One commit in flight at a time; finishes during it are folded into the next one.
  const commit = (): Promise<void> => {
    if (committing) {
      commitAgain = true;
      return committing;
    }
    committing = (async () => {
      do {
        commitAgain = false;
        const offsets = tracker.takeCommittable();
        if (offsets.length === 0 || !consumer) break;
        try {
          await consumer.commit(offsets);
          stats.commits++;
        } catch (e) {
          // Usually a rebalance: the tracker is reset and the records get redelivered. Otherwise keep
          // the positions for a later attempt; nothing is lost either way, the commit is only late.
          tracker.restore(offsets);
          console.warn(`kafka source: commit failed (${(e as Error).message}); retrying in 1 s`);
          if (!closing) setTimeout(() => void commit(), 1000).unref();
          break;
        }
      } while (commitAgain);
    })().finally(() => (committing = undefined));
    return committing;
  };

  const finisher = (record: ConsumedRecord) => {
    const token = tracker.track(record.topic, record.partition, record.offset);
    inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    return (): void => {
      settled();
      if (tracker.finish(token)) void commit();
    };
  };

  // A dead letter that cannot be produced (broker away) is retried until it is, or until close():
  // then the record stays uncommitted and is delivered again after the restart. Never lost. One that
  // can never be produced (the broker refuses the record itself) also stays uncommitted, and the
  // service fails loudly rather than go on with a hole below a partition's commit point.
  const toDeadLetter = async (record: ConsumedRecord, reason: string, message: string, finish: () => void) => {
    let delivered: boolean;
    try {
      delivered = await deliverPatiently(
        () => options.deadLetter(record, reason, message),
        stopFlag,
        (attempt, e) => options.onDeadLetterRetry?.(recordSource(record), attempt, e),
      );
    } catch (e) {
      settled();
      subscriber?.error(new Error(`kafka source: dead-letter for ${recordSource(record)} failed: ${(e as Error).message}`, { cause: e }));
      return;
    }
    if (delivered) finish();
    else settled();
  };

  // Waits, heartbeating, until the credit window has room again. Returns false if the wait was cut
  // short by stop or rebalance (the caller then drops the rest of its batch: it is redelivered).
  const awaitCredit = async (isRunning: () => boolean): Promise<boolean> => {
    if (inFlight < highWater) return true;
    paused = true;
    stats.pauses++;
    consumer?.pause(assigned);
    try {
      while (inFlight > lowWater) {
        if (!isRunning() || closing) return false;
        await Promise.race([
          new Promise<void>((r) => creditWaiters.push(r)),
          new Promise((r) => setTimeout(r, heartbeatMs)),
        ]);
        try {
          await consumer?.heartbeat();
        } catch {
          return false; // rebalance in progress: return so the client can rejoin
        }
      }
      return true;
    } finally {
      paused = false;
      if (!closing) consumer?.resume(assigned);
    }
  };

  // Each record is resolved (the fetch position passes it) only once it is tracked, so returning
  // early (stop, rebalance, heartbeat failure) never skips a record: the rest is fetched again.
  const handleBatch = async (records: ConsumedRecord[], ctx: BatchContext): Promise<void> => {
    for (const record of records) {
      if (!(await awaitCredit(ctx.isRunning))) return;
      if (!ctx.isRunning() || closing || !subscriber) return;
      stats.received++;
      const finish = finisher(record);
      let input;
      try {
        input = await parseInputRecord(record, { allowRoot: options.allowRoot, maxBytes: options.maxBytes });
      } catch (e) {
        const reason = e instanceof PoisonRecordError ? e.reason : 'bad-message';
        stats.rejected++;
        void toDeadLetter(record, reason, (e as Error).message, finish);
        ctx.resolveOffset(record.offset);
        continue;
      }
      const settle = settleOnce(
        async () => {
          stats.acked++;
          finish();
        },
        async (reason: FailureReason, message: string) => {
          stats.failed++;
          await toDeadLetter(record, reason, message, finish);
        },
      );
      const job: Job = {
        id: input.id,
        ...('bytes' in input ? { bytes: input.bytes } : { path: input.path }),
        source: recordSource(record),
        receivedAt: performance.now(),
        ...settle,
      };
      ctx.resolveOffset(record.offset);
      subscriber.next(job);
    }
  };

  const stopConsumer = async (): Promise<void> => {
    const c = consumer;
    if (c) await c.stop();
  };

  const jobs$ = new Observable<Job>((sub) => {
    if (subscriber) {
      sub.error(new Error('kafka source: jobs$ supports one subscriber'));
      return;
    }
    subscriber = sub;
    const c = (consumer = options.client.consumer(options.consumer));
    c.onAssignment((tps) => {
      stats.rebalances++;
      assigned = tps;
      tracker.reset();
      resolveReady();
    });
    const fatal = (e: unknown): void => {
      rejectReady(e);
      sub.error(e);
    };
    c.onCrash(fatal);
    if (options.onConnection) c.onConnection?.(options.onConnection);
    (async () => {
      await c.subscribe(options.topics, { fromBeginning });
      await c.run({ eachBatch: handleBatch });
    })().catch(fatal);
    return () => {
      subscriber = undefined;
      closing = true;
      stopFlag.stop();
      for (const w of creditWaiters.splice(0)) w();
      void stopConsumer().catch((e: unknown) => console.warn('kafka source: stop failed:', e));
    };
  });

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      closing = true;
      stopFlag.stop();
      for (const w of creditWaiters.splice(0)) w();
      // After the stream ended (an error, an unsubscribe) its teardown has stopped the consumer already.
      if (subscriber) consumer?.pause(assigned);
      if (inFlight > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((r) => drainWaiters.push(r)),
          new Promise((r) => (timer = setTimeout(r, drainTimeoutMs))),
        ]);
        clearTimeout(timer);
      }
      await commit();
      await stopConsumer();
      subscriber?.complete();
    })());

  return {
    jobs$,
    close,
    ready,
    stats: () => ({ ...stats, inFlight, paused, assigned: [...assigned] }),
  };
}
