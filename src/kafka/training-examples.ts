import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CaptionedImage, Split } from '../data/types.js';
import { resolveUnderRoot } from './allow-root.js';
import { PoisonRecordError } from './errors.js';
import { recordSource } from './formats.js';
import type { ConsumedRecord, KafkaClient, TopicPartitionOffset } from './types.js';
import { writeFileAtomic } from '../io/write-file-atomic.js';

/**
 * Training examples from a Kafka topic, for the training pipeline (its data set, or any pull-based
 * consumer such as pullOnDemand).
 *
 * ## Record format (value = JSON, key ignored)
 * ```
 * { "id": "img-1",                                   // optional: default <topic>-<partition>-<offset>
 *   "image": { "path": "train/1.png" }               // under --allow-root (same check as the service)
 *         | { "base64": "iVBORw0KGgo..." },          // the encoded image itself
 *   "captions": [["a", "red", "circle"], ...]        // tokenised, lower case
 *            | ["A red circle.", ...],               // or raw text: lower-cased, split on non-letters
 *   "split": "train" | "val" | "test" }              // optional: default "train"
 * ```
 * Images sent inline are written once to `spoolDir/<sha256>.img` (temp then rename) because
 * CaptionedImage carries a path and the training loader decodes from files. Bad records are
 * reported through `onSkip` and skipped: one bad record must not end a training run.
 *
 * ## Pull semantics
 * The consumer fetches only while fewer than `prefetch` examples wait to be taken; above that its
 * partitions are paused (and it heartbeats) until the iterator is pulled again.
 */
export interface KafkaTrainingOptions {
  client: KafkaClient;
  topic: string;
  /** Consumer group [a fresh one per call, so every call reads the topic from the start]. */
  groupId?: string;
  /** Directory that path references must resolve inside. */
  allowRoot?: string;
  /** Where inline (base64) images are written. Required when records carry base64 images. */
  spoolDir?: string;
  /** Examples buffered ahead of the consumer [64]. */
  prefetch?: number;
  /** Stop at the end offsets seen at start (a data set snapshot) [true]; false follows the topic forever. */
  untilEnd?: boolean;
  /** Called for each skipped record. */
  onSkip?: (source: string, reason: string, message: string) => void;
}

/** Parses one training record into a CaptionedImage (writing an inline image to spoolDir). */
export async function parseTrainingRecord(
  record: ConsumedRecord,
  opts: Pick<KafkaTrainingOptions, 'allowRoot' | 'spoolDir'>,
): Promise<CaptionedImage> {
  const where = recordSource(record);
  let v: { id?: unknown; image?: { path?: unknown; base64?: unknown }; captions?: unknown; split?: unknown };
  try {
    v = JSON.parse(record.value?.toString('utf8') ?? '') as typeof v;
  } catch (e) {
    throw new PoisonRecordError('bad-message', `${where}: value is not JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null) throw new PoisonRecordError('bad-message', `${where}: value must be a JSON object`);
  const id = v.id === undefined ? `${record.topic}-${record.partition}-${record.offset}` : v.id;
  if (typeof id !== 'string' || id.length === 0) throw new PoisonRecordError('bad-message', `${where}: "id" must be a non-empty string`);
  const split = (v.split ?? 'train') as Split;
  if (!['train', 'val', 'test'].includes(split)) throw new PoisonRecordError('bad-message', `${where}: "split" must be train, val or test`);
  if (!Array.isArray(v.captions) || v.captions.length === 0) {
    throw new PoisonRecordError('bad-message', `${where}: "captions" must be a non-empty array of token arrays or strings`);
  }
  const captions = v.captions.map((c, i) => {
    const tokens = typeof c === 'string' ? tokenize(c) : Array.isArray(c) && c.every((t) => typeof t === 'string') ? (c as string[]) : undefined;
    if (!tokens || tokens.length === 0) throw new PoisonRecordError('bad-message', `${where}: captions[${i}] must be a non-empty string or array of strings`);
    return tokens;
  });
  let path: string;
  if (typeof v.image?.path === 'string') {
    path = await resolveUnderRoot(opts.allowRoot, v.image.path);
  } else if (typeof v.image?.base64 === 'string') {
    if (opts.spoolDir === undefined) throw new PoisonRecordError('bad-message', `${where}: inline images need a spoolDir`);
    const bytes = Buffer.from(v.image.base64, 'base64');
    if (bytes.length === 0) throw new PoisonRecordError('empty', `${where}: image.base64 is empty`);
    const name = `${createHash('sha256').update(bytes).digest('hex')}.img`;
    path = join(opts.spoolDir, name);
    await writeFileAtomic(path, bytes);
  } else {
    throw new PoisonRecordError('bad-message', `${where}: "image" must be { "path": ... } or { "base64": ... }`);
  }
  return { id, path, split, captions };
}

/** Lower-cases and splits raw caption text into word tokens, as Karpathy's preprocessing did. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().split(/[^a-z0-9']+/).filter((t) => t.length > 0);
}

/**
 * Streams training examples from a topic with pull semantics (see the module doc). Breaking out of
 * a `for await` loop (or the iterator's return()) leaves the group and disconnects.
 */
export async function* kafkaTrainingExamples(opts: KafkaTrainingOptions): AsyncGenerator<CaptionedImage> {
  const prefetch = opts.prefetch ?? 64;
  if (!Number.isInteger(prefetch) || prefetch < 1) throw new RangeError(`kafkaTrainingExamples: prefetch (${prefetch}) must be a positive integer`);
  if (opts.spoolDir !== undefined) await mkdir(opts.spoolDir, { recursive: true });
  const untilEnd = opts.untilEnd ?? true;
  const admin = opts.client.admin();
  let ends: Map<number, bigint>;
  try {
    ends = new Map((await admin.endOffsets(opts.topic)).map((e) => [e.partition, BigInt(e.offset)]));
  } finally {
    await admin.stop();
  }
  const positions = new Map<number, bigint>();
  const reachedEnd = (): boolean => [...ends].every(([p, end]) => end === 0n || (positions.get(p) ?? -1n) >= end);
  if (untilEnd && reachedEnd()) return;

  const groupId = opts.groupId ?? `captioner-train-${Date.now().toString(36)}-${process.pid}`;
  const consumer = opts.client.consumer({ groupId, sessionTimeout: 30000, heartbeatInterval: 3000 });
  const queue: Array<{ item?: CaptionedImage; pos: TopicPartitionOffset }> = [];
  let wake: (() => void) | undefined;
  let drained: (() => void) | undefined;
  let failure: unknown;
  let taken = 0;
  const signal = (): void => {
    wake?.();
    wake = undefined;
  };
  consumer.onCrash((e) => {
    failure = e;
    signal();
  });
  try {
    await consumer.subscribe([opts.topic], { fromBeginning: true });
    await consumer.run({
      eachBatch: async (records, ctx) => {
        for (const r of records) {
          while (queue.length >= prefetch && ctx.isRunning()) {
            consumer.pause([{ topic: r.topic, partition: r.partition }]);
            await Promise.race([new Promise<void>((res) => (drained = res)), new Promise((res) => setTimeout(res, 1000))]);
            await ctx.heartbeat().catch(() => undefined);
            consumer.resume([{ topic: r.topic, partition: r.partition }]);
          }
          if (!ctx.isRunning()) return;
          const pos = { topic: r.topic, partition: r.partition, offset: (BigInt(r.offset) + 1n).toString() };
          try {
            queue.push({ item: await parseTrainingRecord(r, opts), pos });
          } catch (e) {
            if (!(e instanceof PoisonRecordError)) throw e;
            opts.onSkip?.(recordSource(r), e.reason, e.message);
            queue.push({ pos });
          }
          ctx.resolveOffset(r.offset);
          signal();
        }
      },
    });
    for (;;) {
      if (failure) throw failure;
      const next = queue.shift();
      if (!next) {
        if (untilEnd && reachedEnd()) return;
        await new Promise<void>((res) => (wake = res));
        continue;
      }
      drained?.();
      drained = undefined;
      positions.set(next.pos.partition, BigInt(next.pos.offset));
      if (next.item) yield next.item;
      // Commit what was handed out every few examples, so a named group resumes after it (best
      // effort: a lost commit only means re-reading some examples).
      if (++taken % 32 === 0 || queue.length === 0) await consumer.commit([next.pos]).catch(() => undefined);
      if (untilEnd && reachedEnd() && queue.length === 0) return;
    }
  } finally {
    await consumer.stop();
  }
}

/** Reads a topic up to its current end into a data set for trainPipeline ({ name, images }). */
export async function loadKafkaDataset(opts: Omit<KafkaTrainingOptions, 'untilEnd'>): Promise<{ name: string; images: CaptionedImage[] }> {
  const images: CaptionedImage[] = [];
  for await (const im of kafkaTrainingExamples({ ...opts, untilEnd: true })) images.push(im);
  return { name: `kafka:${opts.topic}`, images };
}
