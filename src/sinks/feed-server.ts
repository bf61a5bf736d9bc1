import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROTOCOL_VERSION, type FeedMessage, type HelloMessage } from '../protocol/messages.js';
import { FeedRoutes, sendJson, type FeedRoutesOptions } from './feed/http-routes.js';
import { isLoopback, OriginPolicy } from './feed/origin-policy.js';
import { SocketFeed } from './feed/socket-feed.js';

export { sniffImageType, type HttpCaptionAnswer } from './feed/http-routes.js';

/** Options of the feed server: its routes' (token, metrics, readiness, uploads, dashboard) and these. Every field is optional; defaults in brackets. */
export interface FeedServerOptions extends FeedRoutesOptions {
  /** Port; 0 picks a free one [8080]. */
  port?: number;
  /**
   * When the port is taken, listen on a free one instead of failing [false]. For default ports:
   * a second service on the same machine still starts and prints where its dashboard is.
   */
  fallbackToFreePort?: boolean;
  /** Interface to bind [127.0.0.1: local only; pass 0.0.0.0 deliberately to expose it]. */
  host?: string;
  /** Host names served besides loopback names and the bound address (see OriginPolicy). */
  allowHosts?: string[];
  /** Origins besides the server's own whose pages may use the feed and POST /caption. */
  allowOrigins?: string[];
  /** Where warnings go (binding a non-loopback interface without a token) [console.error]. */
  warn?: (line: string) => void;
  /** Fields of the hello message every client gets first. */
  hello?: Partial<Omit<HelloMessage, 'v' | 'type' | 'ts'>>;
  /** A request (headers and body) must arrive within this, else 408 [30000 ms]. */
  requestTimeoutMs?: number;
  /** The request headers must arrive within this, else 408 [10000 ms]. */
  headersTimeoutMs?: number;
  /** Publish a stats message this often when `metrics` is set; 0 disables [2000 ms]. */
  statsIntervalMs?: number;
  /** Ping every client this often and terminate those that did not answer the last ping [15000 ms]. */
  heartbeatMs?: number;
  /** Above this many buffered bytes a client gets captions without attention and no stats [1 MiB]. */
  softBufferBytes?: number;
  /** Above this many buffered bytes a client is disconnected [16 MiB]. */
  hardBufferBytes?: number;
  /** A client above the soft limit for longer than this is disconnected [30000 ms]. */
  maxBehindMs?: number;
}

/**
 * One node:http server with the WebSocket feed on the same port: HTTP routes in feed/http-routes.ts,
 * the feed and its per-client backpressure in feed/socket-feed.ts, who may connect in
 * feed/origin-policy.ts (Host and Origin checks against other web pages and DNS rebinding, then
 * the token if one is set).
 */
export class FeedServer {
  private readonly timers: NodeJS.Timeout[] = [];
  private closing?: Promise<void>;

  private constructor(
    private readonly http: Server,
    private readonly feed: SocketFeed,
  ) {}

  /** Checks the options, starts listening; resolves once bound. */
  static async start(options: FeedServerOptions = {}): Promise<FeedServer> {
    const { port = 8080, host = '127.0.0.1' } = options;
    checkFeedOptions(options);
    if (options.token === undefined && !isLoopback(host)) {
      (options.warn ?? console.error)(
        `warning: the feed server binds ${host} without a token: anyone who can reach this port can read every caption and thumbnail and use POST /caption; pass --token (or CAPTIONER_TOKEN)`,
      );
    }
    const requestTimeout = options.requestTimeoutMs ?? 30_000;
    const headersTimeout = Math.min(options.headersTimeoutMs ?? 10_000, requestTimeout);
    // Node checks the timeouts every connectionsCheckingInterval: keep it well below them.
    const http = createServer({ requestTimeout, headersTimeout, connectionsCheckingInterval: Math.max(100, Math.min(1000, headersTimeout / 4)) });
    const feed = new SocketFeed(options);
    const server = new FeedServer(http, feed);
    const policy = new OriginPolicy({ host, port: () => server.address().port, allowHosts: options.allowHosts, allowOrigins: options.allowOrigins });
    const routes = new FeedRoutes(options, policy);
    http.on('request', (req, res) => {
      routes.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: 'internal', message: (e as Error).message });
        else res.destroy();
      });
    });
    http.on('upgrade', (req, socket, head) => {
      const refusal = policy.refusal(req);
      if (refusal) {
        socket.end(`HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(refusal)}\r\n\r\n${refusal}`);
        return;
      }
      if (!routes.authorised(req)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      feed.upgrade(req, socket, head);
    });
    const listen = (p: number) =>
      new Promise<void>((res, rej) => {
        http.once('error', rej);
        http.listen(p, host, () => {
          http.off('error', rej);
          res();
        });
      });
    try {
      await listen(port);
    } catch (e) {
      if (!(options.fallbackToFreePort && (e as NodeJS.ErrnoException).code === 'EADDRINUSE')) throw e;
      await listen(0);
    }
    server.timers.push(setInterval(() => feed.heartbeat(), options.heartbeatMs ?? 15_000));
    const statsMs = options.statsIntervalMs ?? 2000;
    if (options.metrics && statsMs > 0) {
      const readiness = (): { ready: boolean; status: string } => {
        const ready = options.isReady?.() ?? true;
        return { ready, status: ready ? 'ready' : (options.unreadyStatus?.() ?? 'warming-up') };
      };
      server.timers.push(setInterval(() => server.publish({ v: PROTOCOL_VERSION, type: 'stats', ts: Date.now(), ...options.metrics!.stats(), ...readiness() }), statsMs));
    }
    for (const t of server.timers) t.unref();
    return server;
  }

  /** Where the server listens; `url` is http://host:port. */
  address(): { host: string; port: number; url: string } {
    const a = this.http.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return { host: a.address, port: a.port, url: `http://${host}:${a.port}` };
  }

  /** Number of connected WebSocket clients. */
  get clientCount(): number {
    return this.feed.clientCount;
  }

  /** Whether a connected client wants caption thumbnails (see SocketFeed). */
  get wantsThumbnails(): boolean {
    return this.feed.wantsThumbnails;
  }

  /** Bytes queued for all clients (what a stalled client costs). */
  bufferedBytes(): number {
    return this.feed.bufferedBytes();
  }

  /** Sends a message to every client, degrading or dropping frames for slow ones (see SocketFeed). */
  publish(msg: FeedMessage): void {
    if (!this.closing) this.feed.publish(msg);
  }

  /** Stops listening, closes clients, stops timers. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      const closed = new Promise<void>((res) => this.http.close(() => res()));
      await this.feed.close();
      this.http.closeAllConnections();
      await closed;
    })());
  }
}

/**
 * Throws a RangeError (a user-facing error in the CLI) naming the bad option; the commands call it before loading the model so that a
 * typo fails at once (and FeedServer.start calls it again).
 */
export function checkFeedOptions(o: Pick<FeedServerOptions, 'token' | 'allowOrigins' | 'allowHosts'>): void {
  if (o.token !== undefined && o.token.trim().length === 0) {
    throw new RangeError('--token must not be empty (omit it to run without authentication)');
  }
  for (const origin of o.allowOrigins ?? []) {
    let u: URL | undefined;
    try {
      u = new URL(origin);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin !== origin.replace(/\/$/, '').toLowerCase()) {
      throw new RangeError(`--allow-origin ${JSON.stringify(origin)} is not an origin; give scheme://host[:port], e.g. http://localhost:5173`);
    }
  }
  for (const h of o.allowHosts ?? []) {
    if (!/^[a-z0-9.\-:[\]]+$/i.test(h)) throw new RangeError(`--allow-host ${JSON.stringify(h)} is not a host name (no scheme, no port)`);
  }
}

/** Starts a FeedServer (same as FeedServer.start). */
export function startFeedServer(options: FeedServerOptions = {}): Promise<FeedServer> {
  return FeedServer.start(options);
}
