import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { ConnectionStatus } from './dashboard-state.js';

/** The part of the browser WebSocket the connection uses; tests pass a fake. */
export interface SocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(code?: number, reason?: string): void;
}

/** Options of {@link FeedConnection}. */
export interface FeedConnectionOptions {
  /** The ws:// or wss:// URL, token included. */
  url: string;
  /** Called with each frame's data, in arrival order. Must be cheap: it runs per message. */
  onFrame: (data: unknown) => void;
  /** Called on every status change; `retryInMs` is set while waiting to reconnect. */
  onStatus?: (status: ConnectionStatus, info: { attempt: number; retryInMs?: number; error?: string }) => void;
  /** Reconnect backoff (see backoffDelay). */
  backoff?: BackoffOptions;
  /** Default: `new WebSocket(url)`. */
  createSocket?: (url: string) => SocketLike;
  /** Default: Math.random (jitter). */
  random?: () => number;
  /** Default: globalThis.setTimeout / clearTimeout; tests pass fakes. */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

/**
 * A WebSocket that reconnects by itself: after any close it waits backoffDelay(attempt) and tries again,
 * until stop(). The attempt counter resets only once a frame arrives, so a server that accepts and
 * immediately drops (a wrong token, a crash loop) is retried with growing delays rather than hammered.
 */
export class FeedConnection {
  private socket: SocketLike | undefined;
  private timer: unknown;
  private attempt = 0;
  private stopped = false;
  private started = false;
  private readonly opts: FeedConnectionOptions;

  constructor(opts: FeedConnectionOptions) {
    if (!/^wss?:\/\//.test(opts.url)) {
      throw new TypeError(`FeedConnection url "${opts.url}" must start with ws:// or wss://`);
    }
    this.opts = opts;
  }

  /** Opens the first connection. Calling it again does nothing. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.open();
  }

  /** Closes the socket and cancels any pending reconnect; idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) (this.opts.clearTimer ?? ((h) => clearTimeout(h as number)))(this.timer);
    this.timer = undefined;
    const s = this.socket;
    this.socket = undefined;
    if (s) {
      detach(s);
      s.close(1000, 'dashboard closed');
    }
    this.opts.onStatus?.('closed', { attempt: this.attempt });
  }

  private open(): void {
    this.timer = undefined;
    this.opts.onStatus?.('connecting', { attempt: this.attempt });
    let s: SocketLike;
    try {
      s = (this.opts.createSocket ?? ((u) => new WebSocket(u) as unknown as SocketLike))(this.opts.url);
    } catch (err) {
      this.scheduleReconnect(`could not open ${this.opts.url}: ${(err as Error).message}`);
      return;
    }
    this.socket = s;
    s.onopen = () => this.opts.onStatus?.('open', { attempt: this.attempt });
    s.onmessage = (ev) => {
      this.attempt = 0;
      this.opts.onFrame(ev.data);
    };
    // Browsers fire error then close; the close carries the useful code, so reconnect from there only.
    s.onerror = () => undefined;
    s.onclose = (ev) => {
      if (this.socket !== s) return;
      detach(s);
      this.socket = undefined;
      this.scheduleReconnect(`closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`);
    };
  }

  private scheduleReconnect(error: string): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt, this.opts.backoff, this.opts.random);
    this.attempt++;
    this.opts.onStatus?.('reconnecting', { attempt: this.attempt, retryInMs: delay, error });
    this.timer = (this.opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms)))(() => this.open(), delay);
  }
}

function detach(s: SocketLike): void {
  s.onopen = null;
  s.onmessage = null;
  s.onclose = null;
  s.onerror = null;
}
