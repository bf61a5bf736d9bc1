import { readFileSync } from 'node:fs';
import kafkajs from 'kafkajs';
import type { Admin, Consumer, KafkaConfig, Producer, SASLOptions } from 'kafkajs';
import type { KafkaClientOptions, KafkaLogLevel } from './options.js';
import { KafkaConfigError } from './errors.js';
import type {
  BatchContext,
  ConsumedRecord,
  ConsumerHandlers,
  ConsumerOptions,
  GroupDescription,
  KafkaClient,
  MessageAdmin,
  MessageConsumer,
  MessageProducer,
  OutgoingRecord,
  ProducedRecordMetadata,
  TopicPartition,
  TopicPartitionOffset,
} from './types.js';

// kafkajs is CommonJS: its named exports are reachable through the default import under NodeNext.
const { Kafka, Partitioners, AssignerProtocol, logLevel: LogLevel } = kafkajs;

const LEVELS: Record<KafkaLogLevel, number> = {
  nothing: LogLevel.NOTHING,
  error: LogLevel.ERROR,
  warn: LogLevel.WARN,
  info: LogLevel.INFO,
  debug: LogLevel.DEBUG,
};

/** Builds kafkajs' config from ours; reads TLS files here so a wrong path fails before any I/O. */
function toKafkaConfig(o: KafkaClientOptions): KafkaConfig {
  const cfg: KafkaConfig = {
    brokers: o.brokers,
    clientId: o.clientId ?? 'captioner',
    connectionTimeout: o.connectionTimeout ?? 3000,
    requestTimeout: o.requestTimeout ?? 30000,
    retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 30000, ...o.retry },
    logLevel: LEVELS[o.logLevel ?? 'error'],
  };
  if (typeof o.ssl === 'boolean') cfg.ssl = o.ssl;
  else if (o.ssl) {
    const read = (file: string | undefined, option: string): string | undefined => {
      if (file === undefined) return undefined;
      try {
        return readFileSync(file, 'utf8');
      } catch (e) {
        throw new KafkaConfigError(option, `cannot read ${file}: ${(e as Error).message}`);
      }
    };
    cfg.ssl = {
      ca: read(o.ssl.ca, 'ssl.ca'),
      cert: read(o.ssl.cert, 'ssl.cert'),
      key: read(o.ssl.key, 'ssl.key'),
      rejectUnauthorized: o.ssl.rejectUnauthorized ?? true,
      servername: o.ssl.servername,
    };
  }
  if (o.sasl) cfg.sasl = { ...o.sasl } as SASLOptions;
  return cfg;
}

/** Our client interface on kafkajs 2.2.4. */
export function createKafkajsClient(options: KafkaClientOptions): KafkaClient {
  const kafka = new Kafka(toKafkaConfig(options));
  return {
    consumer: (opts) => new KafkajsConsumer(kafka.consumer(consumerConfig(opts)), opts.groupId),
    producer: () => new KafkajsProducer(
      kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false }),
    ),
    admin: () => new KafkajsAdmin(kafka.admin()),
  };
}

function consumerConfig(o: ConsumerOptions) {
  const sessionTimeout = o.sessionTimeout ?? 30000;
  const heartbeatInterval = o.heartbeatInterval ?? 3000;
  if (!o.groupId) throw new KafkaConfigError('groupId', 'a consumer needs a group id (--group)');
  if (heartbeatInterval >= sessionTimeout) {
    throw new KafkaConfigError(
      'heartbeatInterval',
      `(${heartbeatInterval}) must be lower than sessionTimeout (${sessionTimeout}); about a third of it is recommended`,
    );
  }
  return {
    groupId: o.groupId,
    sessionTimeout,
    heartbeatInterval,
    rebalanceTimeout: o.rebalanceTimeout ?? 60000,
    maxBytesPerPartition: o.maxBytesPerPartition ?? 1048576,
    maxWaitTimeInMs: o.maxWaitTimeInMs ?? 500,
    allowAutoTopicCreation: false,
  };
}

/**
 * Connects once for concurrent callers; a failed attempt is forgotten so the next call tries again
 * (a broker that was away at the first send must not leave the client broken for good).
 */
function connector(connect: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () =>
    (p ??= connect().catch((e: unknown) => {
      p = undefined;
      throw e;
    }));
}

/** Shares one promise among concurrent callers and never runs `fn` twice. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

class KafkajsConsumer implements MessageConsumer {
  private readonly connect = connector(() => this.consumer.connect());
  private running = false;
  private lastHeartbeat?: () => Promise<void>;
  private readonly removers: Array<() => void> = [];

  constructor(
    private readonly consumer: Consumer,
    readonly groupId: string,
  ) {}

  async subscribe(topics: string[], opts: { fromBeginning?: boolean } = {}): Promise<void> {
    await this.connect();
    await this.consumer.subscribe({ topics, fromBeginning: opts.fromBeginning ?? false });
  }

  async run(handlers: ConsumerHandlers): Promise<void> {
    if (this.running) throw new Error(`consumer of group ${this.groupId}: run() was already called`);
    this.running = true;
    await this.connect();
    await this.consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 1,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, heartbeat, isRunning, resolveOffset }) => {
        this.lastHeartbeat = heartbeat;
        const ctx: BatchContext = { heartbeat, isRunning: () => isRunning() && this.running, resolveOffset };
        const records: ConsumedRecord[] = batch.messages.map((m) => ({
          topic: batch.topic,
          partition: batch.partition,
          offset: m.offset,
          key: m.key ?? null,
          value: m.value ?? null,
          headers: decodeHeaders(m.headers),
          timestamp: m.timestamp,
        }));
        if ('eachBatch' in handlers) await handlers.eachBatch(records, ctx);
        else {
          for (const r of records) {
            if (!ctx.isRunning()) return;
            await handlers.eachMessage(r, ctx);
            resolveOffset(r.offset);
          }
        }
      },
    });
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    if (offsets.length > 0) await this.consumer.commitOffsets(offsets);
  }

  pause(partitions: TopicPartition[]): void {
    if (partitions.length > 0) this.consumer.pause(groupByTopic(partitions));
  }

  resume(partitions: TopicPartition[]): void {
    if (partitions.length > 0) this.consumer.resume(groupByTopic(partitions));
  }

  async heartbeat(): Promise<void> {
    await this.lastHeartbeat?.();
  }

  onAssignment(listener: (assigned: TopicPartition[]) => void): () => void {
    const remove = this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      const assigned = Object.entries(e.payload.memberAssignment).flatMap(([topic, ps]) =>
        ps.map((partition) => ({ topic, partition })),
      );
      try {
        listener(assigned);
      } catch (err) {
        console.error(`kafka consumer ${this.groupId}: assignment listener threw:`, err);
      }
    });
    this.removers.push(remove);
    return remove;
  }

  onCrash(listener: (error: Error) => void): () => void {
    const remove = this.consumer.on(this.consumer.events.CRASH, (e) => {
      if (!e.payload.restart) listener(e.payload.error);
    });
    this.removers.push(remove);
    return remove;
  }

  onConnection(listener: (up: boolean, detail: string) => void): () => void {
    const { FETCH, GROUP_JOIN, CRASH } = this.consumer.events;
    const removers = [
      this.consumer.on(FETCH, () => listener(true, 'fetching')),
      this.consumer.on(GROUP_JOIN, () => listener(true, 'joined the group')),
      this.consumer.on(CRASH, (e) => {
        if (e.payload.restart) listener(false, `${e.payload.error.name}: ${e.payload.error.message}; the client restarts itself`);
      }),
    ];
    const remove = (): void => removers.forEach((r) => r());
    this.removers.push(remove);
    return remove;
  }

  readonly stop = once(async () => {
    this.running = false;
    for (const r of this.removers.splice(0)) r();
    await this.consumer.disconnect();
  });
}

class KafkajsProducer implements MessageProducer {
  private readonly connect = connector(() => this.producer.connect());
  private stopped = false;

  constructor(private readonly producer: Producer) {}

  async send(topic: string, records: OutgoingRecord[]): Promise<ProducedRecordMetadata[]> {
    if (this.stopped) throw new Error(`producer: send to ${topic} after stop()`);
    await this.connect();
    const meta = await this.producer.send({
      topic,
      acks: -1,
      messages: records.map((r) => ({
        key: r.key ?? null,
        value: r.value,
        headers: r.headers,
        partition: r.partition,
      })),
    });
    return meta.map((m) => ({ topic: m.topicName, partition: m.partition, offset: m.baseOffset }));
  }

  readonly stop = once(async () => {
    this.stopped = true;
    await this.producer.disconnect();
  });
}

class KafkajsAdmin implements MessageAdmin {

  constructor(private readonly admin: Admin) {}

  private readonly connect = connector(() => this.admin.connect());

  async ensureTopics(topics: Array<{ topic: string; partitions?: number }>): Promise<void> {
    await this.connect();
    const existing = new Set(await this.admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      await this.admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.partitions ?? 1, replicationFactor: 1 })),
      });
    }
    // createTopics' waitForLeaders covers the controller's view; poll metadata until every partition
    // has a leader on the broker we talk to, so the first produce never hits LEADER_NOT_AVAILABLE.
    const deadline = Date.now() + 30000;
    for (;;) {
      const md = await this.admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) });
      const ready = md.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`topics ${topics.map((t) => t.topic).join(', ')}: no leader after 30 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async missingTopics(topics: string[]): Promise<string[]> {
    await this.connect();
    const existing = new Set(await this.admin.listTopics());
    return topics.filter((t) => !existing.has(t));
  }

  async endOffsets(topic: string): Promise<TopicPartitionOffset[]> {
    await this.connect();
    const offs = await this.admin.fetchTopicOffsets(topic);
    return offs.map((o) => ({ topic, partition: o.partition, offset: o.high }));
  }

  async committedOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]> {
    await this.connect();
    const res = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    return (res[0]?.partitions ?? []).map((p) => ({ topic, partition: p.partition, offset: p.offset }));
  }

  async lag(groupId: string, topic: string): Promise<number> {
    const [ends, committed] = await Promise.all([this.endOffsets(topic), this.committedOffsets(groupId, topic)]);
    const pos = new Map(committed.map((c) => [c.partition, Number(c.offset)]));
    return ends.reduce((sum, e) => sum + Number(e.offset) - Math.max(0, pos.get(e.partition) ?? 0), 0);
  }

  async describeGroup(groupId: string): Promise<GroupDescription> {
    await this.connect();
    const { groups } = await this.admin.describeGroups([groupId]);
    const g = groups[0];
    return {
      state: g?.state ?? 'Dead',
      members: (g?.members ?? []).map((m) => {
        const decoded = m.memberAssignment.length > 0 ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment) : null;
        const assignment = Object.entries(decoded?.assignment ?? {}).flatMap(([topic, ps]) => ps.map((partition) => ({ topic, partition })));
        return { memberId: m.memberId, clientId: m.clientId, assignment };
      }),
    };
  }

  readonly stop = once(async () => {
    await this.admin.disconnect();
  });
}

function decodeHeaders(h: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    const last = Array.isArray(v) ? v[v.length - 1] : v;
    if (last !== undefined) out[k] = last.toString();
  }
  return out;
}

function groupByTopic(tps: TopicPartition[]): Array<{ topic: string; partitions: number[] }> {
  const m = new Map<string, number[]>();
  for (const { topic, partition } of tps) m.set(topic, [...(m.get(topic) ?? []), partition]);
  return [...m].map(([topic, partitions]) => ({ topic, partitions }));
}
