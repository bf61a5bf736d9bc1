import { PROTOCOL_VERSION, type FeedMessage, type FeedMessageType } from '../../../src/protocol/messages.js';

const KNOWN_TYPES: ReadonlySet<string> = new Set<FeedMessageType>([
  'hello',
  'caption',
  'caption.failed',
  'stats',
  'train.step',
  'train.validation',
  'train.end',
]);

/** What {@link parseFeedMessage} made of one WebSocket frame. */
export type ParsedFrame =
  | { kind: 'message'; message: FeedMessage }
  /** Valid JSON envelope of a type this client does not know: ignored, as the protocol asks. */
  | { kind: 'unknown'; type: string }
  /** A major protocol version this client cannot read. */
  | { kind: 'version'; v: unknown }
  | { kind: 'invalid'; reason: string };

/**
 * Checks the envelope of one text frame (`{ v, type, ts }`). The payload fields are trusted to match
 * src/protocol/messages.ts once the envelope does: the server is the same codebase, and views guard
 * the few fields whose absence would throw.
 */
export function parseFeedMessage(data: unknown): ParsedFrame {
  if (typeof data !== 'string') return { kind: 'invalid', reason: 'binary frame (the feed sends JSON text frames)' };
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (err) {
    return { kind: 'invalid', reason: `not JSON: ${(err as Error).message}` };
  }
  if (typeof value !== 'object' || value === null) return { kind: 'invalid', reason: 'not a JSON object' };
  const env = value as { v?: unknown; type?: unknown; ts?: unknown };
  if (env.v !== PROTOCOL_VERSION) return { kind: 'version', v: env.v };
  if (typeof env.type !== 'string') return { kind: 'invalid', reason: 'missing "type"' };
  if (typeof env.ts !== 'number') return { kind: 'invalid', reason: 'missing numeric "ts"' };
  if (!KNOWN_TYPES.has(env.type)) return { kind: 'unknown', type: env.type };
  return { kind: 'message', message: value as FeedMessage };
}
