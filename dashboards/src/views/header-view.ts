import { h, setText } from '../dom.js';
import { fmtDuration, fmtMs } from '../format.js';
import type { DashboardState } from '../state/dashboard-state.js';

/** The connection indicator and what the server said in its hello. */
export class HeaderView {
  readonly root: HTMLElement;
  private readonly dot = h('span', { class: 'dot' });
  private readonly label = h('span', { class: 'conn-label' });
  private readonly conn: HTMLElement;
  private readonly server = h('div', { class: 'server-info' });
  private readonly banner = h('div', { class: 'banner', hidden: true });

  constructor() {
    this.conn = h('div', { class: 'conn', id: 'connection', role: 'status', 'aria-live': 'polite' }, this.dot, this.label);
    this.root = h(
      'header',
      { class: 'top' },
      h('div', { class: 'brand' }, h('span', { class: 'logo' }, '◉'), h('h1', {}, 'Show, Attend and Tell'), h('span', { class: 'sub' }, 'live')),
      this.server,
      this.conn,
      this.banner,
    );
  }

  /** Updates the indicator, server info and the protocol banner. */
  render(state: DashboardState, now: number): void {
    const c = state.connection;
    this.conn.dataset['status'] = c.status;
    const ago = state.lastMessageAt === undefined ? '' : ` · last message ${fmtDuration((now - state.lastMessageAt) / 1000)} ago`;
    let text: string;
    if (c.status === 'open') text = `connected${ago}`;
    else if (c.status === 'reconnecting') text = `server unreachable · retry in ${fmtMs(Math.max(0, (c.retryAt ?? now) - now))} (attempt ${c.attempt})`;
    else text = c.status;
    setText(this.label, text);
    this.conn.title = `${c.url}${c.error ? `\n${c.error}` : ''}`;
    const hello = state.hello;
    setText(
      this.server,
      hello ? `${hello.mode} · model ${hello.modelId} · backend ${hello.backend} · ${hello.server}` : 'waiting for the server…',
    );
    if (state.versionMismatch !== undefined) {
      this.banner.hidden = false;
      setText(this.banner, `The server speaks feed protocol v${String(state.versionMismatch)}; this dashboard reads v1. Rebuild the dashboard (npm run build:dashboard) to match the server.`);
    } else {
      this.banner.hidden = true;
    }
  }
}
