import { connect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FeedServer, type FeedServerOptions } from '../../src/sinks/feed-server.js';

/** Resolves every name to 127.0.0.1, as DNS rebinding makes evil.example do. */
const rebound = ((_host: string, opts: unknown, cb: (e: null, a: string | Array<{ address: string; family: number }>, f?: number) => void) => {
  if ((opts as { all?: boolean }).all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
}) as never;

/** Opens a WebSocket as a browser would (with an Origin) and reports the HTTP status and first frame. */
function tryFeed(url: string, opts: { origin?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body?: string; first?: string }> {
  return new Promise((res) => {
    const ws = new WebSocket(url, { origin: opts.origin, headers: opts.headers, lookup: rebound });
    ws.on('unexpected-response', (_req, r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString()));
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
    });
    ws.on('message', (d) => {
      res({ status: 101, first: String(d) });
      ws.close();
    });
    ws.on('error', () => undefined);
  });
}

/** Sends raw bytes and collects the answer until the server closes the connection. */
function raw(port: number, chunks: Array<string | Buffer>, gapMs: number): Promise<{ answer: string; ms: number }> {
  return new Promise((res) => {
    const t0 = Date.now();
    const s: Socket = connect(port, '127.0.0.1');
    let answer = '';
    s.on('data', (d) => (answer += d.toString()));
    s.on('close', () => res({ answer, ms: Date.now() - t0 }));
    s.on('error', () => undefined);
    let i = 0;
    const next = (): void => {
      if (i >= chunks.length || s.destroyed) return;
      s.write(chunks[i++]!);
      setTimeout(next, gapMs);
    };
    next();
  });
}

describe('FeedServer: only its own pages and names (real ws client, real sockets)', () => {
  let server: FeedServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const start = async (o: FeedServerOptions = {}): Promise<{ port: number; base: string }> => {
    server = await FeedServer.start({ port: 0, statsIntervalMs: 0, ...o });
    const port = server.address().port;
    return { port, base: `ws://127.0.0.1:${port}/` };
  };

  it('refuses a foreign Origin and a rebound Host, token or not; its own origin and non-browser clients get the feed', async () => {
    for (const token of [undefined, 'tok3n']) {
      const { port, base } = await start({ token });
      const q = token ? `?token=${token}` : '';
      const evil = await tryFeed(`${base}${q}`, { origin: 'http://evil.example' });
      expect(evil.status).toBe(403);
      expect(evil.body).toMatch(/Origin "http:\/\/evil\.example" may not use this feed/);
      // DNS rebinding: the page's own origin, but the name is not ours.
      const rebind = await tryFeed(`ws://evil.example:${port}/${q}`, { origin: `http://evil.example:${port}` });
      expect(rebind.status).toBe(403);
      expect(rebind.body).toMatch(/Host "evil\.example:\d+" is not served here/);
      // Another local port (a dev server, another app) is another origin.
      expect((await tryFeed(`${base}${q}`, { origin: 'http://127.0.0.1:5173' })).status).toBe(403);
      for (const own of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
        const ok = await tryFeed(`${base}${q}`, { origin: own });
        expect([own, ok.status, JSON.parse(ok.first!).type]).toEqual([own, 101, 'hello']);
      }
      expect((await tryFeed(`ws://localhost:${port}/${q}`)).status).toBe(101); // no Origin: not a browser
      await server!.close();
    }
  });

  it('accepts configured extra origins and host names', async () => {
    const { port, base } = await start({ allowOrigins: ['http://localhost:5173'], allowHosts: ['captions.internal'] });
    expect((await tryFeed(base, { origin: 'http://localhost:5173' })).status).toBe(101);
    expect((await tryFeed(`ws://captions.internal:${port}/`, { origin: `http://captions.internal:${port}` })).status).toBe(101);
    expect((await tryFeed(`ws://other.internal:${port}/`)).status).toBe(403);
  });

  it('guards the HTTP routes the same way (health probes stay open)', async () => {
    const { port } = await start({ caption: async () => ({ ok: false, reason: 'busy', message: 'busy' }) });
    const get = (path: string, headers: Record<string, string>) => raw(port, [`GET ${path} HTTP/1.1\r\nConnection: close\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`], 0);
    expect((await get('/metrics', { Host: `evil.example:${port}` })).answer).toMatch(/^HTTP\/1\.1 403/);
    expect((await get('/', { Host: `evil.example:${port}` })).answer).toMatch(/^HTTP\/1\.1 403/);
    expect((await get('/health/ready', { Host: `evil.example:${port}` })).answer).toMatch(/^HTTP\/1\.1 200/);
    const post = await fetch(`http://127.0.0.1:${port}/caption`, { method: 'POST', body: new Uint8Array([0xff, 0xd8, 0xff, 0xe0]), headers: { Origin: 'http://evil.example' } });
    expect(post.status).toBe(403);
    const busy = await fetch(`http://127.0.0.1:${port}/caption`, { method: 'POST', body: new Uint8Array([0xff, 0xd8, 0xff, 0xe0]), headers: { Origin: `http://127.0.0.1:${port}` } });
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('2');
  });

  it('binding all interfaces without a token warns; the machine\'s own name is served', async () => {
    const warnings: string[] = [];
    const { port } = await start({ host: '0.0.0.0', warn: (l) => warnings.push(l) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/binds 0\.0\.0\.0 without a token: anyone who can reach this port can read every caption/);
    expect((await tryFeed(`ws://${hostname()}:${port}/`, { origin: `http://${hostname()}:${port}` })).status).toBe(101);
    await server!.close();
    await start({ host: '0.0.0.0', token: 't', warn: (l) => warnings.push(l) });
    await server!.close();
    await start({ warn: (l) => warnings.push(l) });
    expect(warnings).toHaveLength(1);
  });

  it('answers 408 to uploads and headers that trickle in, and 400 to malformed URIs', async () => {
    const { port } = await start({ requestTimeoutMs: 1000, headersTimeoutMs: 600, caption: async () => ({ ok: true, record: {} }) });
    // 1 byte every 200 ms of a 100-byte body: the request is not complete within 1 s.
    const head = `POST /caption HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: image/jpeg\r\nContent-Length: 100\r\n\r\n`;
    const slowBody = await raw(port, [head, ...Array.from({ length: 100 }, () => Buffer.from([0xff]))], 200);
    expect(slowBody.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(slowBody.ms).toBeLessThan(4000);
    const slowHeaders = await raw(port, ['GET /metrics HTTP/1.1\r\n', ...Array.from({ length: 50 }, (_, i) => `X-${i}: y\r\n`)], 100);
    expect(slowHeaders.answer).toMatch(/^HTTP\/1\.1 408/);
    expect(slowHeaders.ms).toBeLessThan(4000);
    const bad = await raw(port, [`GET /%E0%A4%A HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`], 0);
    expect(bad.answer).toMatch(/^HTTP\/1\.1 400/);
    expect(bad.answer).toMatch(/malformed request target/);
  });

  it('names the option when it is wrong', async () => {
    await expect(FeedServer.start({ port: 0, token: '' })).rejects.toThrow('--token must not be empty');
    await expect(FeedServer.start({ port: 0, allowOrigins: ['evil.example'] })).rejects.toThrow(/--allow-origin "evil\.example" is not an origin/);
  });
});
