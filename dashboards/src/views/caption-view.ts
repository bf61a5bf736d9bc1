import type { CaptionMessage } from '../../../src/protocol/messages.js';
import { h, setText } from '../dom.js';
import { fmt, fmtClock, fmtMs, scoreText } from '../format.js';
import { AttentionViewer } from '../render/attention-viewer.js';
import type { OverlaySettingsStore } from '../render/overlay-settings.js';
import type { DashboardState } from '../state/dashboard-state.js';
import { RateMeter } from '../state/rate-meter.js';

const RECENT_SHOWN = 24;
/** While following the feed, the detail panel changes at most this often, so it stays readable at any rate. */
const FOLLOW_INTERVAL_MS = 1500;

/**
 * The caption feed: a large detail panel (image, interactive attention, alternatives, stage timings) and a
 * strip of recent captions, newest first. Cards are added incrementally: only captions newer than the last
 * drawn one become DOM nodes, and at most RECENT_SHOWN exist at a time.
 */
export class CaptionView {
  readonly root: HTMLElement;
  private readonly viewer: AttentionViewer;
  private readonly recent: HTMLElement;
  private readonly failures: HTMLElement;
  private readonly failuresHead = h('h3', {}, 'Recent failures');
  private readonly counters: HTMLElement;
  private readonly detail: HTMLElement;
  private readonly follow: HTMLInputElement;
  private readonly detailBox: HTMLElement;
  private readonly placeholder: HTMLElement;
  private drawnTotal = 0;
  private drawnFailures = -1;
  private selected: CaptionMessage | undefined;
  private lastSwitch = 0;
  private readonly byId = new Map<string, CaptionMessage>();
  private readonly rate = new RateMeter(5000);

  constructor(settings: OverlaySettingsStore) {
    this.viewer = new AttentionViewer(settings, { resolution: 168, className: 'attn-large' });
    this.follow = h('input', { type: 'checkbox', checked: true });
    this.detail = h('div', { class: 'caption-detail-text' });
    this.counters = h('div', { class: 'counters' });
    this.recent = h('div', { class: 'recent-grid', 'data-empty': 'none yet' });
    this.failures = h('div', { class: 'failure-list' });
    const playBtn = h('button', { type: 'button', class: 'btn' }, '▶ play words');
    playBtn.addEventListener('click', () => {
      setText(playBtn, this.viewer.togglePlay() ? '■ stop' : '▶ play words');
    });
    this.placeholder = h(
      'div',
      { class: 'placeholder' },
      h('div', { class: 'placeholder-title' }, 'Waiting for the first caption…'),
      h('div', { class: 'muted' }, 'Each image the service captions appears here with its attention maps. Drop images into the watched folder, produce them to the Kafka topic, or POST one to /caption.'),
    );
    this.detailBox = h(
      'div',
      { class: 'caption-detail', hidden: true },
      h('div', { class: 'caption-visual' }, this.viewer.root, h('div', { class: 'hint' }, 'Hover or click a word (← → to step) to see where the model looked.'), playBtn),
      this.detail,
    );
    this.root = h(
      'section',
      { class: 'view', id: 'view-captions' },
      h(
        'div',
        { class: 'panel caption-main' },
        h('div', { class: 'panel-head' }, h('h2', {}, 'Caption feed'), this.counters,
          h('label', { class: 'follow' }, this.follow, ' follow latest')),
        this.placeholder,
        this.detailBox,
      ),
      h('div', { class: 'panel' }, h('h3', {}, 'Recent captions'), this.recent),
      h('div', { class: 'panel' }, this.failuresHead, this.failures),
    );
    this.recent.addEventListener('click', (ev) => {
      const card = (ev.target as HTMLElement).closest<HTMLElement>('.caption-card');
      const msg = card ? this.byId.get(card.dataset['key'] ?? '') : undefined;
      if (!msg) return;
      this.follow.checked = false;
      this.select(msg, Date.now());
    });
  }

  /** Draws whatever changed since the last call. */
  render(state: DashboardState, now: number): void {
    const caps = state.captions;
    const rate = this.rate.sample(now, caps.total);
    setText(this.counters, `${caps.total} captioned · ${fmt(rate, 1)}/s · ${state.failures.total} failed`);
    if (caps.total !== this.drawnTotal) this.renderRecent(state);
    const latest = caps.last();
    const canSwitch = !this.viewer.engaged && now - this.lastSwitch >= FOLLOW_INTERVAL_MS;
    if (latest && (this.selected === undefined || (this.follow.checked && latest !== this.selected && canSwitch))) {
      this.select(latest, now);
    }
    if (state.failures.total !== this.drawnFailures) this.renderFailures(state);
  }

  private select(msg: CaptionMessage, now: number): void {
    this.selected = msg;
    this.lastSwitch = now;
    this.placeholder.hidden = true;
    this.detailBox.hidden = false;
    this.viewer.set({ ...msg, id: keyOf(msg) });
    for (const card of Array.from(this.recent.children)) {
      card.classList.toggle('selected', (card as HTMLElement).dataset['key'] === keyOf(msg));
    }
    this.detail.replaceChildren(...detailNodes(msg));
  }

  private renderRecent(state: DashboardState): void {
    const caps = state.captions;
    const fresh = Math.min(caps.total - this.drawnTotal, RECENT_SHOWN, caps.length);
    const nodes: HTMLElement[] = [];
    for (let i = caps.length - 1; i >= caps.length - fresh; i--) {
      const msg = caps.at(i);
      if (msg) nodes.push(card(msg));
    }
    this.recent.prepend(...nodes);
    while (this.recent.children.length > RECENT_SHOWN) this.recent.lastElementChild?.remove();
    this.byId.clear();
    const shown = new Set(Array.from(this.recent.children).map((c) => (c as HTMLElement).dataset['key']));
    for (const msg of caps.toArray()) if (shown.has(keyOf(msg))) this.byId.set(keyOf(msg), msg);
    this.drawnTotal = caps.total;
  }

  private renderFailures(state: DashboardState): void {
    this.drawnFailures = state.failures.total;
    const rows = state.failures.toArray().slice(-8).reverse();
    const reasons = Object.entries(state.failuresByReason).map(([r, n]) => `${r} ${n}`).join(' · ');
    this.failuresHead.textContent = reasons ? `Recent failures · ${reasons}` : 'Recent failures';
    this.failures.replaceChildren(
      ...(rows.length === 0
        ? [h('div', { class: 'muted' }, 'none')]
        : rows.map((f) =>
            h('div', { class: 'failure' }, h('span', { class: 'tag tag-bad' }, f.reason), h('span', { class: 'mono' }, f.source),
              h('span', { class: 'muted' }, f.message), h('span', { class: 'muted' }, fmtClock(f.ts))),
          )),
    );
  }
}

/** Ids may repeat (a file captioned twice); the timestamp disambiguates. */
function keyOf(msg: CaptionMessage): string {
  return `${msg.id}@${msg.ts}`;
}

function card(msg: CaptionMessage): HTMLElement {
  return h(
    'div',
    { class: 'caption-card', 'data-key': keyOf(msg), title: msg.source },
    // Captions made while no client wanted thumbnails arrive without one: no broken-image icon.
    h('img', { src: msg.thumbnail || undefined, alt: '', loading: 'lazy', hidden: !msg.thumbnail }),
    h('div', { class: 'card-caption' }, msg.caption),
    h('div', { class: 'card-meta' }, h('span', { class: 'mono' }, shortSource(msg.source)), h('span', {}, fmtMs(msg.timings['total']))),
  );
}

function detailNodes(msg: CaptionMessage): Node[] {
  const timingEntries = Object.entries(msg.timings).filter(([k]) => k !== 'total');
  const total = msg.timings['total'] ?? timingEntries.reduce((a, [, v]) => a + v, 0);
  const stageSum = timingEntries.reduce((a, [, v]) => a + v, 0) || 1;
  const colors = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f'];
  return [
    h('div', { class: msg.words.length > 16 ? 'caption-text long' : 'caption-text', title: msg.caption }, msg.caption || '(empty caption)'),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'score'), h('dd', {}, `${scoreText(msg)}${msg.finished ? '' : ' · unfinished'}`),
      h('dt', {}, 'source'), h('dd', { class: 'mono' }, msg.source),
      h('dt', {}, 'model'), h('dd', { class: 'mono' }, msg.modelId),
      h('dt', {}, 'at'), h('dd', {}, fmtClock(msg.ts)),
    ),
    h('h4', {}, `Stage timings · ${fmtMs(total)} total`),
    h('div', { class: 'timing-bar' }, ...timingEntries.map(([k, v], i) =>
      h('span', { style: `flex:${Math.max(v, 0) / stageSum};background:${colors[i % colors.length]}`, title: `${k}: ${fmtMs(v)}` }))),
    h('div', { class: 'timing-legend' }, ...timingEntries.map(([k, v], i) =>
      h('span', {}, h('i', { style: `background:${colors[i % colors.length]}` }), `${k} ${fmtMs(v)}`))),
    h('h4', {}, 'Beam alternatives'),
    h(
      'table',
      { class: 'alts' },
      h('tbody', {}, ...(msg.alternatives.length === 0
        ? [h('tr', {}, h('td', { class: 'muted' }, 'none'))]
        : msg.alternatives.map((a, i) =>
            h('tr', { class: i === 0 ? 'best' : undefined }, h('td', { class: 'num' }, fmt(a.score, 3)), h('td', {}, h('div', { class: 'alt-text', title: a.caption }, a.caption)))))),
    ),
  ];
}

function shortSource(s: string): string {
  const base = s.split(/[\\/]/).pop() ?? s;
  return base.length > 28 ? `…${base.slice(-27)}` : base;
}
