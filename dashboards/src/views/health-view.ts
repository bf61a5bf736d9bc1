import type { StatsMessage } from '../../../src/protocol/messages.js';
import { h } from '../dom.js';
import { fmt, fmtMs } from '../format.js';
import { LineChart } from '../render/line-chart.js';
import type { DashboardState } from '../state/dashboard-state.js';
import { Tiles } from './tiles.js';

/**
 * Service health from `stats` messages: figures of the newest one and charts over the kept history
 * (time axis). Failures by reason come from the server's cumulative counters in stats.imagesFailed.
 */
export class HealthView {
  readonly root: HTMLElement;
  private readonly tiles = new Tiles(['ready', 'backend', 'workers', 'throughput', 'queue', 'in flight', 'latency p95', 'images in', 'images out', 'failed', 'tensors']);
  private readonly throughput = new LineChart({ title: 'Throughput (images/s)', time: true, series: [{ label: 'img/s', color: '#4e79a7' }] });
  private readonly latency = new LineChart({
    title: 'Latency (ms)',
    time: true,
    series: [
      { label: 'p50', color: '#59a14f' },
      { label: 'p95', color: '#f28e2b' },
      { label: 'p99', color: '#e15759', dash: true },
    ],
  });
  private readonly queue = new LineChart({
    title: 'Queue depth and in flight',
    time: true,
    series: [
      { label: 'queue', color: '#b07aa1' },
      { label: 'in flight', color: '#76b7b2' },
    ],
  });
  private readonly batches = new LineChart({
    title: 'Batch size (recent batches)',
    time: true,
    series: [
      { label: 'mean', color: '#4e79a7' },
      { label: 'max', color: '#9c755f', dash: true },
    ],
  });
  private readonly failures = h('div', { class: 'bars' });
  private readonly histogram = h('div', { class: 'bars' });
  private drawn = -1;

  constructor() {
    this.root = h(
      'section',
      { class: 'view', id: 'view-health' },
      h('div', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', {}, 'Service health')), this.tiles.root),
      h('div', { class: 'chart-grid' }, this.throughput.root, this.latency.root, this.queue.root, this.batches.root),
      h(
        'div',
        { class: 'two-col' },
        h('div', { class: 'panel' }, h('h3', {}, 'Failures by reason (server totals)'), this.failures),
        h('div', { class: 'panel' }, h('h3', {}, 'Recent batch sizes (server window)'), this.histogram),
      ),
    );
  }

  /** Draws the newest stats when new ones arrived. */
  render(state: DashboardState): void {
    const stats = state.stats;
    if (stats.total === this.drawn) return;
    this.drawn = stats.total;
    const last = stats.last();
    if (last) this.renderTiles(last);
    const x = stats.map((s) => s.ts / 1000);
    this.throughput.setData([x, stats.map((s) => s.throughput)]);
    this.latency.setData([x, stats.map((s) => s.latencyMs.p50), stats.map((s) => s.latencyMs.p95), stats.map((s) => s.latencyMs.p99)]);
    this.queue.setData([x, stats.map((s) => s.queueDepth), stats.map((s) => s.inFlight)]);
    this.batches.setData([
      x,
      stats.map((s) => (s.batchSizes.length ? s.batchSizes.reduce((a, b) => a + b, 0) / s.batchSizes.length : null)),
      stats.map((s) => (s.batchSizes.length ? Math.max(...s.batchSizes) : null)),
    ]);
    const failed = last?.imagesFailed ?? {};
    this.failures.replaceChildren(...bars(Object.entries(failed).sort((a, b) => b[1] - a[1]), 'bar-bad'));
    // The server sends the sizes of its most recent batches (a rolling window), so only the newest message counts.
    const counts = new Map<number, number>();
    for (const b of last?.batchSizes ?? []) counts.set(b, (counts.get(b) ?? 0) + 1);
    this.histogram.replaceChildren(...bars([...counts.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => [`size ${k}`, v]), 'bar'));
  }

  private renderTiles(s: StatsMessage): void {
    const failed = Object.values(s.imagesFailed).reduce((a, b) => a + b, 0);
    // Servers that do not report readiness leave the tile at its dash.
    if (s.ready !== undefined) this.tiles.set('ready', s.ready ? 'ready' : (s.status ?? 'not ready'), s.ready ? 'good' : 'bad');
    this.tiles.set('backend', s.backendDetail ? `${s.backend} (${s.backendDetail})` : s.backend);
    this.tiles.set('workers', String(s.workers));
    this.tiles.set('throughput', `${fmt(s.throughput, 1)} img/s`);
    this.tiles.set('queue', String(s.queueDepth), s.queueDepth > 100 ? 'warn' : undefined);
    this.tiles.set('in flight', String(s.inFlight));
    this.tiles.set('latency p95', fmtMs(s.latencyMs.p95));
    this.tiles.set('images in', String(s.imagesIn));
    this.tiles.set('images out', String(s.imagesOut));
    this.tiles.set('failed', String(failed), failed > 0 ? 'bad' : 'good');
    this.tiles.set('tensors', String(s.tensors));
  }
}

function bars(entries: [string, number][], cls: string): HTMLElement[] {
  if (entries.length === 0) return [h('div', { class: 'muted' }, 'none')];
  const max = Math.max(...entries.map(([, v]) => v), 1);
  return entries.map(([label, v]) =>
    h('div', { class: 'bar-row' }, h('span', { class: 'bar-label' }, label),
      h('span', { class: 'bar-track' }, h('span', { class: cls, style: `width:${(100 * v) / max}%` })),
      h('span', { class: 'bar-value' }, String(v))),
  );
}
