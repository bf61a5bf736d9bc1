import { WebSocket, WebSocketServer } from 'ws';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { PROTOCOL_VERSION, type CaptionMessage, type FeedMessage, type HelloMessage } from '../../protocol/messages.js';
import type { ServiceMetrics } from '../service-metrics.js';

export interface SocketFeedOptions {
  /** Fields of the hello message every client gets first. */
  hello?: Partial<Omit<HelloMessage, 'v' | 'type' | 'ts'>>;
  metrics?: ServiceMetrics;
  /** Above this many buffered bytes a client gets captions without attention and no stats [1 MiB]. */
  softBufferBytes?: number;
  /** Above this many buffered bytes a client is disconnected [16 MiB]. */
  hardBufferBytes?: number;
  /** A client above the soft limit for longer than this is disconnected [30000 ms]. */
  maxBehindMs?: number;
}

interface Client {
  ws: WebSocket;
  alive: boolean;
  behindSince?: number;
  /** False for clients that connected with `?thumbnails=0`. */
  thumbnails: boolean;
}

/**
 * The WebSocket feed: every client first gets `hello`, then whatever is published. Per-client
 * backpressure watches `bufferedAmount`: above `softBufferBytes` a client gets captions with
 * `attention` stripped and no `stats`/`train.step` frames (periodic: the next one replaces them)
 * while final captions, failures and train.validation/end are always sent; above `hardBufferBytes`,
 * or above the soft limit for longer than `maxBehindMs`, the client is terminated. So a stalled
 * client costs at most about hardBufferBytes of memory. `heartbeat()` pings and drops the silent.
 * A client that connects with `?thumbnails=0` (a program that wants captions, not pictures) gets
 * captions with `thumbnail` empty; while no client wants thumbnails the service makes none.
 * Who may connect is decided before `upgrade` is called (see FeedServer and OriginPolicy).
 */
export class SocketFeed {
  private readonly clients = new Set<Client>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private closing = false;

  constructor(private readonly opts: SocketFeedOptions) {}

  get clientCount(): number {
    return this.clients.size;
  }

  /** Whether any connected client wants caption thumbnails. */
  get wantsThumbnails(): boolean {
    for (const c of this.clients) if (c.thumbnails) return true;
    return false;
  }

  bufferedBytes(): number {
    let n = 0;
    for (const c of this.clients) n += c.ws.bufferedAmount;
    return n;
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const thumbnails = new URL(req.url ?? '/', 'http://x').searchParams.get('thumbnails') !== '0';
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, thumbnails));
  }

  /** Sends a message to every client, degrading or dropping frames for slow ones (see the class comment). */
  publish(msg: FeedMessage): void {
    if (this.closing) return;
    const soft = this.opts.softBufferBytes ?? 1024 * 1024;
    const hard = this.opts.hardBufferBytes ?? 16 * 1024 * 1024;
    const maxBehind = this.opts.maxBehindMs ?? 30_000;
    const metrics = this.opts.metrics;
    // Each variant of a frame is serialised once, for the first client that needs it.
    const frames = new Map<string, string>();
    const frame = (noAttention: boolean, noThumbnail: boolean): string => {
      const key = `${noAttention}/${noThumbnail}`;
      let f = frames.get(key);
      if (f === undefined) {
        const m = msg as CaptionMessage;
        f = JSON.stringify(noAttention || noThumbnail ? ({ ...m, ...(noAttention && { attention: '' }), ...(noThumbnail && { thumbnail: '' }) } satisfies CaptionMessage) : msg);
        frames.set(key, f);
      }
      return f;
    };
    const now = Date.now();
    for (const c of this.clients) {
      if (c.ws.readyState !== WebSocket.OPEN) continue;
      const buffered = c.ws.bufferedAmount;
      if (buffered > soft) {
        c.behindSince ??= now;
        if (buffered > hard || now - c.behindSince > maxBehind) {
          metrics?.feedDrop('client-terminated');
          c.ws.terminate();
          continue;
        }
        if (msg.type === 'stats' || msg.type === 'train.step') {
          metrics?.feedDrop(msg.type === 'stats' ? 'stats-dropped' : 'train-step-dropped');
          continue;
        }
        if (msg.type === 'caption') {
          metrics?.feedDrop('attention-stripped');
          c.ws.send(frame(true, !c.thumbnails));
          continue;
        }
      } else {
        c.behindSince = undefined;
      }
      c.ws.send(frame(false, msg.type === 'caption' && !c.thumbnails));
    }
  }

  heartbeat(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  /** Sends every client a close frame, waits a moment for them to take it, then cuts the rest. */
  async close(): Promise<void> {
    this.closing = true;
    for (const c of this.clients) c.ws.close(1001, 'server shutting down');
    await new Promise((r) => setTimeout(r, 50));
    for (const c of this.clients) c.ws.terminate();
    this.wss.close();
  }

  private accept(ws: WebSocket, thumbnails: boolean): void {
    const client: Client = { ws, alive: true, thumbnails };
    this.clients.add(client);
    this.opts.metrics?.feedClientCount(this.clients.size);
    ws.on('pong', () => (client.alive = true));
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      this.clients.delete(client);
      this.opts.metrics?.feedClientCount(this.clients.size);
    });
    const h = this.opts.hello ?? {};
    const hello: HelloMessage = {
      v: PROTOCOL_VERSION,
      type: 'hello',
      ts: Date.now(),
      server: h.server ?? 'captioner',
      modelId: h.modelId ?? '',
      backend: h.backend ?? '',
      mode: h.mode ?? 'serve',
    };
    ws.send(JSON.stringify(hello));
  }
}
