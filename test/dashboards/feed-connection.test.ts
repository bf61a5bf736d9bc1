import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../dashboards/src/state/backoff.js';
import { FeedConnection, type SocketLike } from '../../dashboards/src/state/feed-connection.js';
import { feedUrl } from '../../dashboards/src/state/feed-url.js';
import type { ConnectionStatus } from '../../dashboards/src/state/dashboard-state.js';

describe('backoffDelay', () => {
  it('grows exponentially and is capped (no jitter)', () => {
    const d = (a: number): number => backoffDelay(a, { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 });
    expect([0, 1, 2, 3, 4, 10].map(d)).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('jitter spreads delays between (1 - jitter) x base and base', () => {
    const opts = { initialMs: 1000, maxMs: 1000, jitter: 0.5 };
    expect(backoffDelay(0, opts, () => 0)).toBe(500);
    expect(backoffDelay(0, opts, () => 0.999999)).toBe(1000);
    expect(backoffDelay(0, opts, () => 0.5)).toBe(750);
  });

  it('rejects inconsistent options with a message naming them', () => {
    expect(() => backoffDelay(0, { initialMs: 500, maxMs: 100 })).toThrow(/initialMs \(500\) <= maxMs \(100\)/);
    expect(() => backoffDelay(0, { jitter: 2 })).toThrow(RangeError);
  });
});

describe('feedUrl', () => {
  it('uses ws:// beside the page and forwards the token', () => {
    expect(feedUrl('http://host:8080/?token=s3cret')).toBe('ws://host:8080/feed?token=s3cret');
    expect(feedUrl('https://example.org/captioner/index.html?token=a%20b#x')).toBe('wss://example.org/captioner/feed?token=a+b');
  });

  it('honours ?feed= as a path or an absolute URL', () => {
    expect(feedUrl('http://h/?feed=/ws')).toBe('ws://h/ws');
    expect(feedUrl('http://h/?feed=ws://other:9/x&token=t')).toBe('ws://other:9/x?token=t');
  });

  it('leaves out the token when the page has none', () => {
    expect(feedUrl('http://h/dash/')).toBe('ws://h/dash/feed');
  });
});

/** A fake socket the test drives by hand. */
class FakeSocket implements SocketLike {
  onopen: SocketLike['onopen'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  closed: number | undefined;
  constructor(readonly url: string) {}
  close(code = 1000): void {
    this.closed = code;
  }
  serverOpens(): void {
    this.onopen?.({});
  }
  serverSends(data: string): void {
    this.onmessage?.({ data });
  }
  serverCloses(code = 1006): void {
    this.onclose?.({ code, reason: '' });
  }
}

function rig() {
  const sockets: FakeSocket[] = [];
  const timers: { fn: () => void; ms: number; cancelled: boolean }[] = [];
  const statuses: { status: ConnectionStatus; attempt: number; retryInMs?: number; error?: string }[] = [];
  const frames: unknown[] = [];
  const conn = new FeedConnection({
    url: 'ws://h/feed',
    onFrame: (d) => frames.push(d),
    onStatus: (status, info) => statuses.push({ status, ...info }),
    backoff: { initialMs: 100, maxMs: 400, jitter: 0 },
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    setTimer: (fn, ms) => {
      const t = { fn, ms, cancelled: false };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      (t as { cancelled: boolean }).cancelled = true;
    },
  });
  const fire = (): void => {
    const t = timers.shift();
    if (!t) throw new Error('no timer pending');
    if (!t.cancelled) t.fn();
  };
  return { conn, sockets, timers, statuses, frames, fire };
}

describe('FeedConnection', () => {
  it('rejects a URL that is not ws(s)://', () => {
    expect(() => new FeedConnection({ url: 'http://h/feed', onFrame: () => undefined })).toThrow(/must start with ws:\/\/ or wss:\/\//);
  });

  it('connects, delivers frames in order and reports open', () => {
    const r = rig();
    r.conn.start();
    r.conn.start();
    expect(r.sockets).toHaveLength(1);
    r.sockets[0]!.serverOpens();
    r.sockets[0]!.serverSends('a');
    r.sockets[0]!.serverSends('b');
    expect(r.frames).toEqual(['a', 'b']);
    expect(r.statuses.map((s) => s.status)).toEqual(['connecting', 'open']);
  });

  it('reconnects with growing, capped delays while the server stays down', () => {
    const r = rig();
    r.conn.start();
    for (let i = 0; i < 4; i++) {
      r.sockets[i]!.serverCloses();
      r.fire();
    }
    const delays = r.statuses.filter((s) => s.status === 'reconnecting').map((s) => s.retryInMs);
    expect(delays).toEqual([100, 200, 400, 400]);
    expect(r.sockets).toHaveLength(5);
    expect(r.statuses.at(-1)?.status).toBe('connecting');
    expect(r.statuses.find((s) => s.status === 'reconnecting')?.error).toMatch(/code 1006/);
  });

  it('resets the backoff once a frame arrives on a new connection (server restarted)', () => {
    const r = rig();
    r.conn.start();
    r.sockets[0]!.serverCloses();
    r.fire();
    r.sockets[1]!.serverCloses();
    r.fire();
    r.sockets[2]!.serverOpens();
    r.sockets[2]!.serverSends('hello');
    r.sockets[2]!.serverCloses();
    const delays = r.statuses.filter((s) => s.status === 'reconnecting').map((s) => s.retryInMs);
    expect(delays).toEqual([100, 200, 100]);
  });

  it('does not reset the backoff for a server that accepts and drops without a frame', () => {
    const r = rig();
    r.conn.start();
    for (let i = 0; i < 3; i++) {
      r.sockets[i]!.serverOpens();
      r.sockets[i]!.serverCloses(1008);
      r.fire();
    }
    const delays = r.statuses.filter((s) => s.status === 'reconnecting').map((s) => s.retryInMs);
    expect(delays).toEqual([100, 200, 400]);
  });

  it('retries when creating the socket throws', () => {
    const r = rig();
    let fail = true;
    const conn = new FeedConnection({
      url: 'ws://h/feed',
      onFrame: () => undefined,
      onStatus: (status, info) => r.statuses.push({ status, ...info }),
      backoff: { initialMs: 100, maxMs: 400, jitter: 0 },
      createSocket: (url) => {
        if (fail) throw new Error('boom');
        return new FakeSocket(url);
      },
      setTimer: (fn, ms) => r.timers.push({ fn, ms, cancelled: false }),
      clearTimer: () => undefined,
    });
    conn.start();
    expect(r.statuses.at(-1)).toMatchObject({ status: 'reconnecting', error: expect.stringMatching(/boom/) });
    fail = false;
    r.fire();
    expect(r.statuses.at(-1)?.status).toBe('connecting');
  });

  it('stop closes the socket, cancels the pending retry, and is idempotent', () => {
    const r = rig();
    r.conn.start();
    r.sockets[0]!.serverOpens();
    r.conn.stop();
    expect(r.sockets[0]!.closed).toBe(1000);
    r.conn.stop();
    expect(r.statuses.filter((s) => s.status === 'closed')).toHaveLength(1);
    // A late close event from the old socket must not schedule a reconnect.
    r.sockets[0]!.serverCloses();
    expect(r.timers).toHaveLength(0);

    const r2 = rig();
    r2.conn.start();
    r2.sockets[0]!.serverCloses();
    expect(r2.timers).toHaveLength(1);
    r2.conn.stop();
    expect(r2.timers[0]!.cancelled).toBe(true);
    r2.fire();
    expect(r2.sockets).toHaveLength(1);
  });
});
