/**
 * The feed protocol: typed, versioned messages the server sends to dashboard clients over WebSocket.
 * Shared by the server (src/sinks) and the browser client (dashboards/); keep it free of Node imports.
 *
 * Every message is a JSON text frame `{ v, type, ts, ... }`. Clients ignore types they do not know and
 * must check `v` (a major version: a change that breaks old clients increments it).
 */

export const PROTOCOL_VERSION = 1 as const;

interface Envelope<T extends string> {
  v: typeof PROTOCOL_VERSION;
  type: T;
  /** Milliseconds since the epoch when the server produced the message. */
  ts: number;
}

/** First message on every connection. */
export interface HelloMessage extends Envelope<'hello'> {
  server: string;
  modelId: string;
  backend: string;
  /** What the server runs: 'watch' | 'kafka' | 'train' | 'serve'. */
  mode: string;
}

export interface CaptionAlternative {
  caption: string;
  score: number;
}

/** One captioned image. */
export interface CaptionMessage extends Envelope<'caption'> {
  id: string;
  /** Where the image came from: a file name, a Kafka topic/partition/offset, or 'http'. */
  source: string;
  caption: string;
  words: string[];
  /** The ranking score: logProb, plus the word detector's agreement when the beams were re-ranked. */
  score: number;
  /** Summed log-probability of the words (absent from servers before re-ranking existed). */
  logProb?: number;
  finished: boolean;
  alternatives: CaptionAlternative[];
  gridSize: number;
  /**
   * Per-word attention maps, 8-bit quantised: base64 of words.length (+1 for <end>) x gridSize^2 bytes,
   * each map scaled so its maximum is 255. Dropped (empty string) for clients that fall behind.
   */
  attention: string;
  /**
   * A small JPEG thumbnail as a data: URL; empty for clients that connected with `?thumbnails=0`,
   * and for images decoded while no connected client wanted thumbnails.
   */
  thumbnail: string;
  /** Milliseconds spent per stage (decode, queue, encode, decode-beam, total...). */
  timings: Record<string, number>;
  modelId: string;
}

export interface CaptionFailedMessage extends Envelope<'caption.failed'> {
  id: string;
  source: string;
  reason: string;
  message: string;
}

/** Periodic service statistics. */
export interface StatsMessage extends Envelope<'stats'> {
  backend: string;
  /** A native backend's TensorFlow version and threads, e.g. 'TF 2.16.2, 2 threads' (absent on wasm and cpu). */
  backendDetail?: string;
  imagesIn: number;
  imagesOut: number;
  imagesFailed: Record<string, number>;
  throughput: number;
  queueDepth: number;
  inFlight: number;
  batchSizes: number[];
  latencyMs: { p50: number; p95: number; p99: number };
  workers: number;
  tensors: number;
  /** What GET /health/ready says: false while warming up or (Kafka) while the broker is away. */
  ready?: boolean;
  /** Why not ready ('warming-up', 'broker-unreachable', ...), or 'ready'. */
  status?: string;
}

export interface TrainStepMessage extends Envelope<'train.step'> {
  epoch: number;
  step: number;
  loss: number;
  crossEntropy: number;
  attentionPenalty: number;
  learningRate: number;
  examplesPerSec: number;
  etaSec: number;
}

/**
 * Validation figures from the scene annotations (synthetic data), by the same rules as `captioner
 * eval`, all in [0, 1]: the boxes only measure, nothing of them reaches training.
 */
export interface ValidationGrounding {
  /** Attention hit rate over the shape and colour words. */
  hitRate: number;
  /** Captions whose every claim holds for the scene. */
  contentAccuracy: number;
  /** Captions that hold and name every object. */
  completeAccuracy: number;
  /** Mean share of a scene's objects a caption names. */
  objectCoverage: number;
  /** Validation images with annotations. */
  images: number;
}

export interface TrainValidationMessage extends Envelope<'train.validation'> {
  epoch: number;
  bleu: [number, number, number, number];
  bestBleu4: number;
  epochsSinceImprovement: number;
  learningRate: number;
  improved: boolean;
  /** Data sets with scene annotations only (synthetic): content accuracy and attention hit rate. */
  grounding?: ValidationGrounding;
  /** Generated vs reference captions of a fixed probe set of validation images. */
  probes: Array<{
    id: string;
    thumbnail: string;
    caption: string;
    references: string[];
    words: string[];
    gridSize: number;
    attention: string;
  }>;
}

export interface TrainEndMessage extends Envelope<'train.end'> {
  reason: 'completed' | 'early-stopped' | 'stopped' | 'failed';
  bestBleu4: number;
  epochs: number;
}

export type FeedMessage =
  | HelloMessage
  | CaptionMessage
  | CaptionFailedMessage
  | StatsMessage
  | TrainStepMessage
  | TrainValidationMessage
  | TrainEndMessage;

export type FeedMessageType = FeedMessage['type'];

/** Quantise attention maps (each of length grid*grid) to base64 bytes, each map scaled to max 255. */
export function quantiseAttention(maps: ArrayLike<number>[]): string {
  const cells = maps[0]?.length ?? 0;
  const bytes = new Uint8Array(maps.length * cells);
  maps.forEach((map, i) => {
    let max = 0;
    for (let j = 0; j < cells; j++) max = Math.max(max, map[j] ?? 0);
    const scale = max > 0 ? 255 / max : 0;
    for (let j = 0; j < cells; j++) bytes[i * cells + j] = Math.round((map[j] ?? 0) * scale);
  });
  return bytesToBase64(bytes);
}

/** Inverse of quantiseAttention: maps with values in [0, 1] (max 1 per map). */
export function dequantiseAttention(b64: string, gridSize: number): Float32Array[] {
  const bytes = base64ToBytes(b64);
  const cells = gridSize * gridSize;
  const maps: Float32Array[] = [];
  for (let i = 0; i + cells <= bytes.length; i += cells) {
    const map = new Float32Array(cells);
    for (let j = 0; j < cells; j++) map[j] = (bytes[i + j] ?? 0) / 255;
    maps.push(map);
  }
  return maps;
}

// Works in Node and browsers alike (btoa/atob exist in both), so the dashboard can import this file.
function bytesToBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i] ?? 0);
  return btoa(s);
}

function base64ToBytes(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
