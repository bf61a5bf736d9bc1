import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { PROTOCOL_VERSION, type CaptionMessage, type FeedMessage, type HelloMessage } from '../protocol/messages.js';
import type { ServiceMetrics } from './service-metrics.js';

/** What POST /caption answers: the record on success, else the reason and message. */
export type HttpCaptionAnswer =
  | { ok: true; record: unknown }
  | { ok: false; reason: string; message: string };

/** Options of the feed server. Every field is optional; defaults in brackets. */
export interface FeedServerOptions {
  /** Port; 0 picks a free one [8080]. */
  port?: number;
  /**
   * When the port is taken, listen on a free one instead of failing [false]. For default ports:
   * a second service on the same machine still starts and prints where its dashboard is.
   */
  fallbackToFreePort?: boolean;
  /** Interface to bind [127.0.0.1: local only; pass 0.0.0.0 deliberately to expose it]. */
  host?: string;
  /** When set, WS upgrades, POST /caption and GET /metrics need `Authorization: Bearer <token>` or `?token=`. */
  token?: string;
  /** Fields of the hello message every client gets first. */
  hello?: Partial<Omit<HelloMessage, 'v' | 'type' | 'ts'>>;
  /** Prometheus registry for GET /metrics (without it /metrics answers 404). */
  metrics?: ServiceMetrics;
  /** GET /health/ready answers 200 only when this returns true [always true]. */
  isReady?: () => boolean;
  /** Captions uploaded bytes through the service's batcher; without it POST /caption answers 404. */
  caption?: (bytes: Buffer) => Promise<HttpCaptionAnswer>;
  /** Largest accepted upload in bytes; larger ones get 413 [20 MiB]. */
  maxBodyBytes?: number;
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
  /** Directory of the built dashboard served at / [dashboards/dist of the package]. */
  dashboardDir?: string;
}

interface Client {
  ws: WebSocket;
  alive: boolean;
  behindSince?: number;
}

/** Magic bytes of the image formats sharp decodes, for a fast, honest 415. */
export function sniffImageType(b: Buffer): string | undefined {
  const h = (s: number, bytes: number[]): boolean => bytes.every((x, i) => b[s + i] === x);
  if (h(0, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (h(0, [0x89, 0x50, 0x4e, 0x47])) return 'image/png';
  if (h(0, [0x47, 0x49, 0x46, 0x38])) return 'image/gif';
  if (h(0, [0x52, 0x49, 0x46, 0x46]) && h(8, [0x57, 0x45, 0x42, 0x50])) return 'image/webp';
  if (h(0, [0x49, 0x49, 0x2a, 0x00]) || h(0, [0x4d, 0x4d, 0x00, 0x2a])) return 'image/tiff';
  if (h(4, [0x66, 0x74, 0x79, 0x70])) return 'image/avif';
  const head = b.subarray(0, 256).toString('utf8').trimStart();
  if (head.startsWith('<svg') || (head.startsWith('<?xml') && head.includes('<svg'))) return 'image/svg+xml';
  return undefined;
}

const STATIC_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
};

function defaultDashboardDir(): string {
  // src/sinks/feed-server.ts in dev, dist/src/sinks/feed-server.js when built: walk up to package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dashboards', 'dist');
    dir = dirname(dir);
  }
  return resolve('dashboards', 'dist');
}

/**
 * One node:http server with a ws WebSocketServer on the same port.
 *
 * WebSocket: every client first gets `hello`, then whatever is published. Per-client backpressure
 * watches `bufferedAmount`: above `softBufferBytes` a client gets captions with `attention` stripped
 * and no `stats`/`train.step` frames (they are periodic, the next one replaces them) while final
 * captions, failures and train.validation/end are always sent; above `hardBufferBytes`, or above the
 * soft limit for longer than `maxBehindMs`, the client is terminated. So a stalled client costs at
 * most about hardBufferBytes of memory. Heartbeat: ping every `heartbeatMs`, terminate the silent.
 *
 * HTTP: POST /caption (image bytes in, JSON out; 413 too large, 415 not an image, 400 undecodable),
 * GET /health/live, GET /health/ready, GET /metrics (Prometheus), GET / (the dashboard if built).
 * The token (if any) guards WebSocket, /caption and /metrics; health probes and the dashboard's
 * static files are open (they carry no data).
 */
export class FeedServer {
  private readonly clients = new Set<Client>();
  private readonly timers: NodeJS.Timeout[] = [];
  private closing?: Promise<void>;

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    private readonly opts: FeedServerOptions,
  ) {}

  /** Starts listening; resolves once bound. */
  static async start(options: FeedServerOptions = {}): Promise<FeedServer> {
    const { port = 8080, host = '127.0.0.1' } = options;
    if (options.token !== undefined && options.token.length === 0) {
      throw new TypeError('FeedServer token must be a non-empty string (omit it to disable authentication)');
    }
    const http = createServer();
    const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
    const server = new FeedServer(http, wss, options);
    http.on('request', (req, res) => {
      server.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: 'internal', message: (e as Error).message });
        else res.destroy();
      });
    });
    http.on('upgrade', (req, socket, head) => {
      if (!server.authorised(req)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => server.accept(ws));
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
    server.timers.push(setInterval(() => server.heartbeat(), options.heartbeatMs ?? 15_000));
    const statsMs = options.statsIntervalMs ?? 2000;
    if (options.metrics && statsMs > 0) {
      server.timers.push(setInterval(() => server.publish({ v: PROTOCOL_VERSION, type: 'stats', ts: Date.now(), ...options.metrics!.stats() }), statsMs));
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
    return this.clients.size;
  }

  /** Bytes queued for all clients (what a stalled client costs). */
  bufferedBytes(): number {
    let n = 0;
    for (const c of this.clients) n += c.ws.bufferedAmount;
    return n;
  }

  /** Sends a message to every client, degrading or dropping frames for slow ones (see the class comment). */
  publish(msg: FeedMessage): void {
    if (this.closing) return;
    const soft = this.opts.softBufferBytes ?? 1024 * 1024;
    const hard = this.opts.hardBufferBytes ?? 16 * 1024 * 1024;
    const maxBehind = this.opts.maxBehindMs ?? 30_000;
    let full: string | undefined;
    let stripped: string | undefined;
    const now = Date.now();
    for (const c of this.clients) {
      if (c.ws.readyState !== WebSocket.OPEN) continue;
      const buffered = c.ws.bufferedAmount;
      if (buffered > soft) {
        c.behindSince ??= now;
        if (buffered > hard || now - c.behindSince > maxBehind) {
          this.opts.metrics?.feedDrop('client-terminated');
          c.ws.terminate();
          continue;
        }
        if (msg.type === 'stats' || msg.type === 'train.step') {
          this.opts.metrics?.feedDrop(msg.type === 'stats' ? 'stats-dropped' : 'train-step-dropped');
          continue;
        }
        if (msg.type === 'caption') {
          stripped ??= JSON.stringify({ ...msg, attention: '' } satisfies CaptionMessage);
          this.opts.metrics?.feedDrop('attention-stripped');
          c.ws.send(stripped);
          continue;
        }
      } else {
        c.behindSince = undefined;
      }
      full ??= JSON.stringify(msg);
      c.ws.send(full);
    }
  }

  /** Stops listening, terminates clients, stops timers. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      for (const c of this.clients) c.ws.close(1001, 'server shutting down');
      const closed = new Promise<void>((res) => this.http.close(() => res()));
      // Give clients a moment to take the close frame, then cut whatever is left.
      await new Promise((r) => setTimeout(r, 50));
      for (const c of this.clients) c.ws.terminate();
      this.http.closeAllConnections();
      this.wss.close();
      await closed;
    })());
  }

  private accept(ws: WebSocket): void {
    const client: Client = { ws, alive: true };
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

  private heartbeat(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  private authorised(req: IncomingMessage): boolean {
    const token = this.opts.token;
    if (token === undefined) return true;
    const header = req.headers.authorization;
    const given = header?.startsWith('Bearer ')
      ? header.slice(7).trim()
      : (new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? '');
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/health/live') return sendJson(res, 200, { status: 'live' });
    if (req.method === 'GET' && path === '/health/ready') {
      const ready = this.opts.isReady?.() ?? true;
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'warming-up' });
    }
    if (path === '/metrics' || path === '/caption') {
      if (!this.authorised(req)) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        return sendJson(res, 401, { error: 'unauthorised', message: 'send Authorization: Bearer <token> or ?token=<token>' });
      }
      if (path === '/metrics' && req.method === 'GET') {
        if (!this.opts.metrics) return sendJson(res, 404, { error: 'not-found', message: 'metrics are not enabled' });
        const text = await this.opts.metrics.metricsText();
        res.writeHead(200, { 'Content-Type': this.opts.metrics.registry.contentType });
        res.end(text);
        return;
      }
      if (path === '/caption' && req.method === 'POST') return this.captionUpload(req, res);
      res.setHeader('Allow', path === '/metrics' ? 'GET' : 'POST');
      return sendJson(res, 405, { error: 'method-not-allowed', message: `${req.method} ${path} is not supported` });
    }
    if (req.method === 'GET' || req.method === 'HEAD') return this.serveDashboard(path, res);
    return sendJson(res, 404, { error: 'not-found', message: `${req.method} ${path}` });
  }

  private async captionUpload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.opts.caption) return sendJson(res, 404, { error: 'not-found', message: 'this server does not caption uploads' });
    const limit = this.opts.maxBodyBytes ?? 20 * 1024 * 1024;
    const tooLarge = (): void => {
      res.setHeader('Connection', 'close');
      sendJson(res, 413, { error: 'too-large', message: `uploads are limited to ${limit} bytes` });
    };
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limit) {
      res.once('finish', () => req.destroy());
      return tooLarge();
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type && !type.startsWith('image/') && type !== 'application/octet-stream') {
      res.setHeader('Connection', 'close');
      res.once('finish', () => req.destroy());
      return sendJson(res, 415, { error: 'unsupported-media-type', message: `Content-Type ${type} is not an image; send the image bytes as image/* or application/octet-stream` });
    }
    const body = await readBody(req, limit);
    if (!body) {
      // Answer first, then cut the upload: the rest of a too-large body is not worth receiving.
      res.once('finish', () => req.destroy());
      return tooLarge();
    }
    if (body.length === 0) return sendJson(res, 400, { error: 'empty', message: 'the request body is empty; POST the image bytes' });
    if (!sniffImageType(body)) {
      return sendJson(res, 415, { error: 'unsupported-media-type', message: 'the body is not a JPEG, PNG, GIF, WebP, TIFF, AVIF or SVG image' });
    }
    const answer = await this.opts.caption(body);
    if (answer.ok) return sendJson(res, 200, answer.record);
    const status = { corrupt: 400, empty: 400, unsupported: 415, 'too-large': 413, busy: 503, shutdown: 503 }[answer.reason] ?? 500;
    return sendJson(res, status, { error: answer.reason, message: answer.message });
  }

  private async serveDashboard(path: string, res: ServerResponse): Promise<void> {
    const root = resolve(this.opts.dashboardDir ?? defaultDashboardDir());
    const rel = path === '/' ? 'index.html' : decodeURIComponent(path).replace(/^\/+/, '');
    const file = normalize(join(root, rel));
    if (!file.startsWith(root + sep)) return sendJson(res, 404, { error: 'not-found', message: path });
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) {
      if (path === '/') {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`captioner feed server. The dashboard is not built (${root} is missing): run the dashboard build. WebSocket feed on this port; GET /metrics, /health/live, /health/ready; POST /caption.\n`);
        return;
      }
      return sendJson(res, 404, { error: 'not-found', message: path });
    }
    res.writeHead(200, { 'Content-Type': STATIC_TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': info.size });
    res.end(await readFile(file));
  }
}

/** The request body, or undefined as soon as it exceeds `limit` bytes (reading stops there). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Starts a FeedServer (same as FeedServer.start). */
export function startFeedServer(options: FeedServerOptions = {}): Promise<FeedServer> {
  return FeedServer.start(options);
}
