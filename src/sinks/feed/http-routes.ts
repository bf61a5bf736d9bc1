import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceMetrics } from '../service-metrics.js';
import type { OriginPolicy } from './origin-policy.js';

/** What POST /caption answers: the record on success, else the reason and message. */
export type HttpCaptionAnswer =
  | { ok: true; record: unknown }
  | { ok: false; reason: string; message: string };

/** Options of the HTTP routes; the feed server takes them as they are (FeedServerOptions). */
export interface FeedRoutesOptions {
  /** When set, WS upgrades, POST /caption and GET /metrics need `Authorization: Bearer <token>` or `?token=`. */
  token?: string;
  /** Prometheus registry for GET /metrics (without it /metrics answers 404). */
  metrics?: ServiceMetrics;
  /** GET /health/ready answers 200 only when this returns true [always true]. */
  isReady?: () => boolean;
  /** The `status` /health/ready reports while not ready ['warming-up']. */
  unreadyStatus?: () => string;
  /** Captions uploaded bytes through the service's batcher; without it POST /caption answers 404. */
  caption?: (bytes: Buffer) => Promise<HttpCaptionAnswer>;
  /** Largest accepted upload in bytes; larger ones get 413 [20 MiB]. */
  maxBodyBytes?: number;
  /** Directory of the built dashboard served at / [dashboards/dist of the package]. */
  dashboardDir?: string;
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

/** Seconds a client should wait before retrying a 503 (busy or shutting down). */
const RETRY_AFTER_S = 2;

function defaultDashboardDir(): string {
  // src/sinks/feed/http-routes.ts in dev, dist/src/sinks/feed/http-routes.js when built: walk up to package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dashboards', 'dist');
    dir = dirname(dir);
  }
  return resolve('dashboards', 'dist');
}

/**
 * The feed server's HTTP side: POST /caption (image bytes in, JSON out; 413 too large, 415 not an
 * image, 400 undecodable, 503 with Retry-After when busy), GET /health/live, GET /health/ready,
 * GET /metrics (Prometheus), GET / (the dashboard if built). The token (if any) guards /caption and
 * /metrics; health probes and the dashboard's static files are open (they carry no data). Every
 * route but the health probes also passes the origin policy (Host and Origin checks).
 */
export class FeedRoutes {
  constructor(
    private readonly opts: FeedRoutesOptions,
    private readonly policy: OriginPolicy,
  ) {}

  /** True when the request carries the token (or none is configured). */
  authorised(req: IncomingMessage): boolean {
    const token = this.opts.token;
    if (token === undefined) return true;
    const header = req.headers.authorization;
    let given = '';
    if (header?.startsWith('Bearer ')) given = header.slice(7).trim();
    else {
      try {
        given = new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? '';
      } catch {
        return false;
      }
    }
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return sendJson(res, 400, { error: 'bad-request', message: `malformed request target ${JSON.stringify(req.url)}` });
    }
    if (req.method === 'GET' && path === '/health/live') return sendJson(res, 200, { status: 'live' });
    if (req.method === 'GET' && path === '/health/ready') {
      const ready = this.opts.isReady?.() ?? true;
      if (!ready) res.setHeader('Retry-After', String(RETRY_AFTER_S));
      return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : (this.opts.unreadyStatus?.() ?? 'warming-up') });
    }
    const refusal = this.policy.refusal(req);
    if (refusal) return sendJson(res, 403, { error: 'forbidden', message: refusal });
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
    // Answer first, then cut the upload: the rest of a refused body is not worth receiving.
    const refuse = (status: number, body: unknown): void => {
      res.setHeader('Connection', 'close');
      res.once('finish', () => req.destroy());
      sendJson(res, status, body);
    };
    const tooLarge = { error: 'too-large', message: `uploads are limited to ${limit} bytes` };
    if (Number(req.headers['content-length'] ?? NaN) > limit) return refuse(413, tooLarge);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type && !type.startsWith('image/') && type !== 'application/octet-stream') {
      return refuse(415, { error: 'unsupported-media-type', message: `Content-Type ${type} is not an image; send the image bytes as image/* or application/octet-stream` });
    }
    const body = await readBody(req, limit);
    if (body === 'aborted') return; // the client went away (or the request timeout answered 408)
    if (!body) return refuse(413, tooLarge);
    if (body.length === 0) return sendJson(res, 400, { error: 'empty', message: 'the request body is empty; POST the image bytes' });
    if (!sniffImageType(body)) {
      return sendJson(res, 415, { error: 'unsupported-media-type', message: 'the body is not a JPEG, PNG, GIF, WebP, TIFF, AVIF or SVG image' });
    }
    const answer = await this.opts.caption(body);
    if (answer.ok) return sendJson(res, 200, answer.record);
    const status = { corrupt: 400, empty: 400, unsupported: 415, 'too-large': 413, busy: 503, shutdown: 503 }[answer.reason] ?? 500;
    if (status === 503) res.setHeader('Retry-After', String(RETRY_AFTER_S));
    return sendJson(res, status, { error: answer.reason, message: answer.message });
  }

  private async serveDashboard(path: string, res: ServerResponse): Promise<void> {
    const root = resolve(this.opts.dashboardDir ?? defaultDashboardDir());
    const rel = path === '/' ? 'index.html' : path.replace(/^\/+/, '');
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

/** The request body; undefined as soon as it exceeds `limit` bytes (reading stops there); 'aborted' if the request ended early. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined | 'aborted'> {
  return new Promise((resolve) => {
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
    req.once('error', () => resolve('aborted'));
    req.once('close', () => {
      if (!req.complete) resolve('aborted');
    });
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
