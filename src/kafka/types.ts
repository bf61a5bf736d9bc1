/**
 * The project's own Kafka client interface. Pipelines, sources and sinks depend on these types only,
 * so the client library behind them (kafkajs today; kafkajs is unmaintained) can be swapped for
 * another implementation (e.g. @confluentinc/kafka-javascript) without touching them.
 */

/** One record as consumed. Keys and values stay bytes; headers are decoded as UTF-8 strings. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  /** Kafka offsets are 64-bit: kept as decimal strings. */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Broker or producer timestamp, ms since the epoch as a decimal string. */
  timestamp: string;
}

/** One record to produce. */
export interface OutgoingRecord {
  key?: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string | Buffer>;
  /** Explicit partition; by default the key's murmur2 hash (Java-client compatible) chooses it. */
  partition?: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** A position to commit: `offset` is the NEXT offset to consume (last processed + 1), Kafka's convention. */
export interface TopicPartitionOffset extends TopicPartition {
  offset: string;
}

/** Where a produced record landed. */
export interface ProducedRecordMetadata extends TopicPartition {
  /** Base offset of the request's records in that partition, when the broker reported one. */
  offset?: string;
}

/** What a batch handler may do besides handling records. */
export interface BatchContext {
  /** Tells the group coordinator this member is alive; cheap (rate-limited by the client). */
  heartbeat(): Promise<void>;
  /** False once stop() began: a long handler should return early. */
  isRunning(): boolean;
  /**
   * Marks the batch's records up to `offset` as taken: the next fetch starts after it. A batch
   * handler that returns early leaves the rest unresolved, and those records are fetched again
   * (never skipped). Per-message handlers are resolved automatically after each record.
   */
  resolveOffset(offset: string): void;
}

export type BatchHandler = (records: ConsumedRecord[], ctx: BatchContext) => Promise<void>;
export type MessageHandler = (record: ConsumedRecord, ctx: BatchContext) => Promise<void>;

/** Either a per-record handler or a per-batch handler (records of one partition, in offset order). */
export type ConsumerHandlers = { eachMessage: MessageHandler } | { eachBatch: BatchHandler };

/**
 * A group member. Offsets are never committed automatically: the owner commits explicitly what it
 * has finished, which is what at-least-once delivery needs.
 *
 * Resolving (BatchContext.resolveOffset) moves the fetch position only, never the commit: after a
 * crash or rebalance, everything after the last commit is delivered again.
 */
export interface MessageConsumer {
  readonly groupId: string;
  /** Connects (once) and subscribes. `fromBeginning` applies when the group has no committed offset. */
  subscribe(topics: string[], opts?: { fromBeginning?: boolean }): Promise<void>;
  /** Starts consuming in the background; resolves once the fetch loop runs. Call once. */
  run(handlers: ConsumerHandlers): Promise<void>;
  /** Commits positions (next offset to read) for this group. */
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  /** Stops fetching these partitions (records already handed over still arrive). */
  pause(partitions: TopicPartition[]): void;
  resume(partitions: TopicPartition[]): void;
  /** Heartbeats outside a handler too (e.g. while the owner waits for in-flight work). No-op before run. */
  heartbeat(): Promise<void>;
  /** Called after each (re)join with the partitions this member now owns. Returns the remover. */
  onAssignment(listener: (assigned: TopicPartition[]) => void): () => void;
  /** Called when the client gives up (non-retriable error, retries exhausted). Returns the remover. */
  onCrash(listener: (error: Error) => void): () => void;
  /**
   * Optional: told `false` when the client lost the cluster and restarts itself (a retriable crash:
   * broker gone), `true` when it fetches or joins again. Returns the remover.
   */
  onConnection?(listener: (up: boolean, detail: string) => void): () => void;
  /** Leaves the group and disconnects. Idempotent: concurrent callers share one promise. */
  stop(): Promise<void>;
}

/** A producer that waits for all in-sync replicas (acks=all) on every send. */
export interface MessageProducer {
  /** Sends and resolves once the broker acknowledged every record (acks=all). Connects lazily. */
  send(topic: string, records: OutgoingRecord[]): Promise<ProducedRecordMetadata[]>;
  /** Flushes nothing (sends are awaited) and disconnects. Idempotent. */
  stop(): Promise<void>;
}

/** Topic administration, for tests, benchmarks and `captioner kafka --create-topics`. */
export interface MessageAdmin {
  /** Creates missing topics and waits until every partition has a leader. Existing topics are left alone. */
  ensureTopics(topics: Array<{ topic: string; partitions?: number }>): Promise<void>;
  /** Which of `topics` do not exist on the cluster. */
  missingTopics(topics: string[]): Promise<string[]>;
  /** Latest offset (high watermark) per partition. */
  endOffsets(topic: string): Promise<TopicPartitionOffset[]>;
  /** Committed position per partition for a group ('-1' when none). */
  committedOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]>;
  /** Sum over partitions of end offset minus the group's committed position (uncommitted = whole log). */
  lag(groupId: string, topic: string): Promise<number>;
  /** The group's state and members with their assigned partitions. */
  describeGroup(groupId: string): Promise<GroupDescription>;
  stop(): Promise<void>;
}

export interface GroupDescription {
  /** Broker's group state: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead. */
  state: string;
  members: Array<{ memberId: string; clientId: string; assignment: TopicPartition[] }>;
}

/** Creates consumers, producers and admins sharing one client configuration. */
export interface KafkaClient {
  consumer(opts: ConsumerOptions): MessageConsumer;
  producer(): MessageProducer;
  admin(): MessageAdmin;
}

/** Consumer settings; defaults in brackets. */
export interface ConsumerOptions {
  groupId: string;
  /** [30000] ms without heartbeat before the coordinator evicts this member. */
  sessionTimeout?: number;
  /** [3000] ms between heartbeats; must be lower than sessionTimeout (about a third of it). */
  heartbeatInterval?: number;
  /** [60000] ms the coordinator waits for members to rejoin during a rebalance. */
  rebalanceTimeout?: number;
  /** [1048576] bytes fetched per partition per request; bounds how many records one batch holds. */
  maxBytesPerPartition?: number;
  /** [500] ms the broker may wait for data before answering a fetch. */
  maxWaitTimeInMs?: number;
}
