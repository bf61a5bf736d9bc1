import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { PROTOCOL_VERSION, type CaptionMessage, type FeedMessage } from '../../src/protocol/messages.js';
import { FeedServer, type FeedServerOptions } from '../../src/sinks/feed-server.js';
import { ServiceMetrics } from '../../src/sinks/service-metrics.js';
import { waitFor } from './helpers.js';

const caption = (i: number, attentionBytes: number, thumbnailBytes = 100): CaptionMessage => ({
  v: PROTOCOL_VERSION,
  type: 'caption',
  ts: Date.now(),
  id: `img-${i}`,
  source: `img-${i}.png`,
  caption: 'a red circle',
  words: ['a', 'red', 'circle'],
  score: -1,
  finished: true,
  alternatives: [],
  gridSize: 8,
  attention: randomBytes(attentionBytes).toString('base64'),
  thumbnail: `data:image/jpeg;base64,${randomBytes(thumbnailBytes).toString('base64')}`,
  timings: {},
  modelId: 'm',
});

interface Received {
  ws: WebSocket;
  messages: FeedMessage[];
  closed: Promise<number>;
}

async function connect(url: string, query = ''): Promise<Received> {
  const ws = new WebSocket(url.replace('http', 'ws') + query);
  const messages: FeedMessage[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as FeedMessage));
  const closed = new Promise<number>((res) => ws.once('close', (code) => res(code)));
  await new Promise((res, rej) => ws.once('open', res).once('error', rej));
  await waitFor(() => messages.length > 0, 'hello');
  return { ws, messages, closed };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

describe('FeedServer: per-client backpressure and heartbeat (real sockets)', () => {
  let server: FeedServer | undefined;
  const clients: WebSocket[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await server?.close();
    server = undefined;
  });
  const start = async (opts: FeedServerOptions): Promise<string> => {
    server = await FeedServer.start({ port: 0, heartbeatMs: 60_000, ...opts });
    return server.address().url;
  };

  it('keeps every caption for a slow client but strips attention and drops stats; memory stays bounded', async () => {
    const metrics = new ServiceMetrics({ defaultMetrics: false });
    const soft = 256 * 1024;
    const hard = 8 * 1024 * 1024;
    const url = await start({ softBufferBytes: soft, hardBufferBytes: hard, metrics, statsIntervalMs: 0 });
    const fast = await connect(url);
    const slow = await connect(url);
    clients.push(fast.ws, slow.ws);
    slow.ws.pause();
    let maxBuffered = 0;
    const N = 1500;
    for (let i = 0; i < N; i++) {
      server!.publish(caption(i, 6000));
      if (i % 10 === 0) {
        server!.publish({ v: PROTOCOL_VERSION, type: 'stats', ts: Date.now(), ...metrics.stats() });
        await tick();
      }
      maxBuffered = Math.max(maxBuffered, server!.bufferedBytes());
    }
    // ~12 MB of captions were published; the stalled client holds at most the soft limit of full
    // frames plus stripped ones (a few hundred bytes each).
    expect(maxBuffered).toBeLessThan(soft + 8000 + N * 600);
    await waitFor(() => fast.messages.filter((m) => m.type === 'caption').length === N, 'all captions at the fast client');
    expect(fast.messages.filter((m) => m.type === 'caption' && m.attention === '')).toHaveLength(0);
    expect(fast.messages.filter((m) => m.type === 'stats')).toHaveLength(N / 10);

    slow.ws.resume();
    await waitFor(() => slow.messages.filter((m) => m.type === 'caption').length === N, 'all captions at the slow client');
    const got = slow.messages.filter((m): m is CaptionMessage => m.type === 'caption');
    expect(new Set(got.map((m) => m.id)).size).toBe(N);
    const stripped = got.filter((m) => m.attention === '').length;
    expect(stripped).toBeGreaterThan(N / 2);
    expect(slow.messages.filter((m) => m.type === 'stats').length).toBeLessThan(N / 10);
    const text = await metrics.metricsText();
    expect(text).toMatch(new RegExp(`captioner_feed_frames_dropped_total\\{kind="attention-stripped"\\} ${stripped}`));
    expect(text).toMatch(/captioner_feed_frames_dropped_total\{kind="stats-dropped"\} [1-9]/);
  });

  it('sends captions without thumbnails to clients that asked for none, and says whether anyone wants them', async () => {
    const url = await start({});
    expect(server!.wantsThumbnails).toBe(false);
    const program = await connect(url, '/?thumbnails=0');
    clients.push(program.ws);
    expect(server!.wantsThumbnails).toBe(false);
    const dashboard = await connect(url);
    clients.push(dashboard.ws);
    expect(server!.wantsThumbnails).toBe(true);
    const msg = caption(1, 64);
    server!.publish(msg);
    server!.publish({ v: PROTOCOL_VERSION, type: 'caption.failed', ts: Date.now(), id: 'x', source: 'x.png', reason: 'corrupt', message: 'x.png: bad' });
    await waitFor(() => program.messages.length === 3 && dashboard.messages.length === 3, 'both frames at both clients');
    expect(dashboard.messages[1]).toEqual(msg);
    expect(program.messages[1]).toEqual({ ...msg, thumbnail: '' });
    expect(program.messages[2]).toEqual(dashboard.messages[2]);
    dashboard.ws.close();
    await dashboard.closed;
    await waitFor(() => !server!.wantsThumbnails, 'no client wants thumbnails');
  });

  it('disconnects a client that stays behind beyond the hard bound; others are unaffected', async () => {
    const url = await start({ softBufferBytes: 64 * 1024, hardBufferBytes: 1024 * 1024 });
    const fast = await connect(url);
    const slow = await connect(url);
    clients.push(fast.ws, slow.ws);
    slow.ws.pause();
    let maxBuffered = 0;
    // Failures and thumbnails are never dropped, so a stalled client's backlog keeps growing until cut.
    for (let i = 0; i < 800; i++) {
      server!.publish(caption(i, 10, 20_000));
      if (i % 10 === 0) await tick();
      maxBuffered = Math.max(maxBuffered, server!.bufferedBytes());
    }
    slow.ws.resume();
    expect(await slow.closed).toBe(1006);
    expect(maxBuffered).toBeLessThan(1024 * 1024 + 2 * 30_000);
    await waitFor(() => fast.messages.filter((m) => m.type === 'caption').length === 800, 'all captions at the fast client');
    expect(server!.clientCount).toBe(1);
  });

  it('disconnects a client that stays above the soft bound for longer than maxBehindMs', async () => {
    const url = await start({ softBufferBytes: 16 * 1024, hardBufferBytes: 64 * 1024 * 1024, maxBehindMs: 300 });
    const slow = await connect(url);
    clients.push(slow.ws);
    slow.ws.pause();
    const t0 = Date.now();
    while (server!.clientCount === 1 && Date.now() - t0 < 10_000) {
      server!.publish(caption(0, 10, 50_000));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(server!.clientCount).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
  });

  it('terminates clients that stop answering pings', async () => {
    const url = await start({ heartbeatMs: 100 });
    const alive = await connect(url);
    const silent = await connect(url);
    clients.push(alive.ws, silent.ws);
    silent.ws.pause(); // reads nothing, so never answers a ping
    await waitFor(() => server!.clientCount === 1, 'the silent client to be cut', 5000);
    silent.ws.resume(); // a paused socket does not see its own close
    expect(await silent.closed).toBe(1006);
    await new Promise((r) => setTimeout(r, 300));
    expect(alive.ws.readyState).toBe(WebSocket.OPEN);
    expect(server!.clientCount).toBe(1);
  });

  it('serves a plain message at / when the dashboard is not built, and 404 elsewhere', async () => {
    const url = await start({ dashboardDir: '/nonexistent-dashboard' });
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/dashboard is not built/);
    expect((await fetch(`${url}/../../etc/passwd`)).status).toBe(404);
    expect((await fetch(`${url}/caption`, { method: 'POST', body: 'x' })).status).toBe(404);
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
  });

  it('rejects an empty token instead of silently disabling auth', async () => {
    await expect(FeedServer.start({ port: 0, token: '' })).rejects.toThrow(/--token must not be empty/);
  });

  it('fails on a taken port, or falls back to a free one when asked (default ports)', async () => {
    const first = await FeedServer.start({ port: 0 });
    try {
      const taken = first.address().port;
      await expect(FeedServer.start({ port: taken })).rejects.toMatchObject({ code: 'EADDRINUSE' });
      server = await FeedServer.start({ port: taken, fallbackToFreePort: true });
      expect(server.address().port).not.toBe(taken);
      expect((await fetch(`${server.address().url}/health/live`)).status).toBe(200);
    } finally {
      await first.close();
    }
  });
});
