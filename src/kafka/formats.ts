import type { ConsumedRecord, OutgoingRecord } from './types.js';
import type { CaptionRecord } from '../sinks/caption-record.js';
import { PoisonRecordError } from './errors.js';
import { resolveUnderRoot } from './allow-root.js';
import { quantiseAttention } from '../protocol/messages.js';

/**
 * # Message formats of `captioner kafka`
 *
 * ## Input topic (one image per record), either
 * 1. **bytes**: value = the encoded image (JPEG, PNG, WebP, GIF, TIFF, AVIF); key = the image id;
 *    headers `content-type: image/jpeg` (any `image/*` or `application/octet-stream`, optional) and
 *    `id` (optional, wins over the key). Without key and header the id is `<topic>-<partition>-<offset>`.
 * 2. **reference**: value = JSON `{ "id": "cat-42", "path": "2024/cat.jpg" }` with header
 *    `content-type: application/json` (or no content-type and a value starting with `{`). `path` is
 *    relative to, or absolute inside, the directory given by `--allow-root DIR`; anything that
 *    resolves outside it (`../`, absolute elsewhere, symlinks out) is dead-lettered and never read.
 *
 * ## Output topic: one record per captioned image
 * key = the image id; header `content-type: application/json`; value = JSON
 * ```
 * { "id", "source": "topic/partition@offset", "caption": "a red circle", "words": ["a","red","circle"],
 *   "score": -3.2, "finished": true,
 *   "alternatives": [{ "caption", "words", "score" }],        // ranked, best first
 *   "attention": { "gridSize": 14, "words": ["a","red","circle","<end>"],
 *                  "maps": ["<base64>", ...] },              // one per emitted token (the words, then
 *                      // <end> if finished): gridSize^2 bytes, row-major, each scaled to max 255;
 *                      // "words" labels the maps one to one
 *   "modelId", "backend", "timings": { "decode": 3.1, "total": 41.7, ... } }   // milliseconds
 * ```
 *
 * ## Dead-letter topic: one record per input that produced no caption
 * key, value and headers are the ORIGINAL record's (so it can be replayed as is), plus headers
 * `x-dead-letter-reason` (machine-readable: empty, too-large, unsupported, corrupt, not-found,
 * path-not-allowed, bad-message, inference-error, ...), `x-dead-letter-error` (human message),
 * `x-source-topic`, `x-source-partition`, `x-source-offset`, `x-dead-letter-at` (ISO time).
 * A value larger than the dead-letter size limit is replaced by the JSON reference
 * `{ "omitted": true, "bytes": N, "sha256"?: ... }` with header `x-dead-letter-value: omitted`.
 *
 * (This type is a caption job's input as decoded from one input record.)
 */
export type ParsedInput = { id: string; bytes: Buffer } | { id: string; path: string };

export interface ParseInputOptions {
  /** Directory that path references must resolve inside; without it path references are rejected. */
  allowRoot?: string;
  /** Largest accepted image in bytes (default 20 MiB); larger records are dead-lettered as too-large. */
  maxBytes?: number;
}

const JSON_TYPES = new Set(['application/json', 'text/json']);

/** Where a record came from, in the form used by job.source and dead-letter headers. */
export function recordSource(r: { topic: string; partition: number; offset: string }): string {
  return `${r.topic}/${r.partition}@${r.offset}`;
}

/**
 * Turns an input record into bytes or a checked path.
 * @throws PoisonRecordError with the dead-letter reason.
 */
export async function parseInputRecord(record: ConsumedRecord, opts: ParseInputOptions = {}): Promise<ParsedInput> {
  const maxBytes = opts.maxBytes ?? 20 * 1024 * 1024;
  const value = record.value;
  const fallbackId = record.headers.id ?? record.key?.toString('utf8') ?? `${record.topic}-${record.partition}-${record.offset}`;
  if (value === null || value.length === 0) throw new PoisonRecordError('empty', `record ${recordSource(record)} has an empty value`);
  const type = (record.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const looksJson = JSON_TYPES.has(type) || (type === '' && value[0] === 0x7b /* { */);
  if (looksJson) {
    let ref: unknown;
    try {
      ref = JSON.parse(value.toString('utf8'));
    } catch (e) {
      throw new PoisonRecordError('bad-message', `record ${recordSource(record)}: JSON value does not parse: ${(e as Error).message}`);
    }
    const r = ref as { id?: unknown; path?: unknown } | null;
    if (typeof r !== 'object' || r === null || typeof r.path !== 'string' || r.path.length === 0) {
      throw new PoisonRecordError('bad-message', `record ${recordSource(record)}: JSON value must be { "id": "...", "path": "..." }`);
    }
    if (r.id !== undefined && typeof r.id !== 'string') {
      throw new PoisonRecordError('bad-message', `record ${recordSource(record)}: "id" must be a string`);
    }
    const path = await resolveUnderRoot(opts.allowRoot, r.path);
    return { id: (r.id as string | undefined) ?? fallbackId, path };
  }
  if (type !== '' && !type.startsWith('image/') && type !== 'application/octet-stream') {
    throw new PoisonRecordError('unsupported', `record ${recordSource(record)}: content-type "${type}" is not an image`);
  }
  if (value.length > maxBytes) {
    throw new PoisonRecordError('too-large', `record ${recordSource(record)}: ${value.length} bytes exceed the limit of ${maxBytes}`);
  }
  return { id: fallbackId, bytes: value };
}

/** What the Kafka sink needs of a captioned image. */
/** What the Kafka sink needs of a caption result: the service's CaptionRecord with maps of any array type. */
export type CaptionOutput = Omit<CaptionRecord, 'formatVersion' | 'batchSize' | 'createdAt' | 'attention'> & {
  /** One map (gridSize^2, row-major) per word plus one for <end>. */
  attention: ArrayLike<number>[];
};

/** The JSON value of an output record (see the format doc above). */
export interface CaptionRecordValue extends Omit<CaptionOutput, 'attention'> {
  /** `words` labels maps[i]: the caption's words, then <end> when the hypothesis finished. */
  attention: { gridSize: number; words: string[]; maps: string[] };
}

/** Builds the output record for one captioned image. */
export function captionRecord(out: CaptionOutput): OutgoingRecord {
  // Beam search emits one map per token (never <pad>/<start>): the words, then <end> when finished.
  const words = out.attention.length === out.words.length + 1 ? [...out.words, '<end>'] : out.words;
  const value: CaptionRecordValue = {
    ...out,
    attention: { gridSize: out.gridSize, words, maps: out.attention.map((m) => quantiseAttention([m])) },
  };
  return { key: out.id, value: JSON.stringify(value), headers: { 'content-type': 'application/json', id: out.id } };
}

/** Builds the dead-letter record for an input record that produced no caption. */
export function deadLetterRecord(
  record: ConsumedRecord,
  reason: string,
  message: string,
  opts: { maxValueBytes?: number } = {},
): OutgoingRecord {
  const max = opts.maxValueBytes ?? 1024 * 1024;
  const headers: Record<string, string> = {
    ...record.headers,
    'x-dead-letter-reason': reason,
    'x-dead-letter-error': message.slice(0, 4000),
    'x-source-topic': record.topic,
    'x-source-partition': String(record.partition),
    'x-source-offset': record.offset,
    'x-dead-letter-at': new Date().toISOString(),
  };
  let value: string | Buffer | null = record.value;
  if (value !== null && value.length > max) {
    headers['x-dead-letter-value'] = 'omitted';
    value = JSON.stringify({ omitted: true, bytes: value.length });
  }
  return { key: record.key, value, headers };
}
