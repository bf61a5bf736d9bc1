import uPlot from 'uplot';
import { h } from '../dom.js';
import { fmtClock } from '../format.js';

/** One plotted series. */
export interface SeriesSpec {
  label: string;
  color: string;
  /** Dashed line (secondary series). */
  dash?: boolean;
  /** Draw points only (sparse series such as per-epoch BLEU). */
  points?: boolean;
  /** Value formatter for the legend. */
  format?: (v: number) => string;
}

/** Options of {@link LineChart}. */
export interface LineChartOptions {
  title: string;
  series: SeriesSpec[];
  /** x is epoch seconds (a time axis) or a plain number (step, epoch). */
  time?: boolean;
  xLabel?: string;
  yLabel?: string;
  /** x takes whole numbers only (epochs): no ticks between them. */
  integerX?: boolean;
  height?: number;
}

/**
 * A uPlot line chart that follows its container's width. Data is handed over whole (columns built from
 * the ring buffers) and only when it changed; uPlot redraws thousands of points in well under a frame.
 */
export class LineChart {
  readonly root: HTMLElement;
  private plot: uPlot | undefined;
  private readonly body: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly observer: ResizeObserver;
  private pending: uPlot.AlignedData | undefined;

  constructor(private readonly opts: LineChartOptions) {
    this.body = h('div', { class: 'chart-body' });
    this.empty = h('div', { class: 'chart-empty' }, 'waiting for data…');
    this.root = h('figure', { class: 'chart' }, h('figcaption', {}, opts.title), this.body, this.empty);
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(this.body);
  }

  /** Replaces the data: [x, y1, y2, ...] columns of equal length; null marks a gap. */
  setData(data: uPlot.AlignedData): void {
    const points = data[0]?.length ?? 0;
    this.empty.hidden = points > 0;
    // Exposed for tests and for anyone inspecting the page: how many x values the chart holds.
    this.root.dataset['points'] = String(points);
    if (!this.plot) {
      this.pending = data;
      this.resize();
      return;
    }
    this.plot.setData(data);
    this.showLatest();
  }

  /** With the pointer off the chart the legend shows the newest values rather than dashes. */
  private showLatest(): void {
    const u = this.plot;
    const n = u?.data[0]?.length ?? 0;
    if (u && n > 0 && (u.cursor.idx === null || u.cursor.idx === undefined)) u.setLegend({ idx: n - 1 }, false);
  }

  private resize(): void {
    const width = Math.floor(this.body.clientWidth);
    if (width <= 0) return;
    const height = this.opts.height ?? 190;
    if (!this.plot) {
      if (!this.pending) return;
      this.plot = new uPlot(this.config(width, height), this.pending, this.body);
      this.pending = undefined;
      this.showLatest();
    } else if (this.plot.width !== width) {
      this.plot.setSize({ width, height });
    }
  }

  private config(width: number, height: number): uPlot.Options {
    const o = this.opts;
    const axisStroke = '#5b6472';
    const grid = { stroke: '#e6e9ef', width: 1 };
    return {
      width,
      height,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      hooks: { setCursor: [() => this.showLatest()] },
      scales: { x: { time: o.time ?? false }, y: { auto: true } },
      axes: [
        {
          stroke: axisStroke,
          grid,
          label: o.xLabel,
          labelSize: o.xLabel ? 18 : 0,
          // Time axes print a second line (the date) under the first tick.
          size: o.time ? 48 : 34,
          incrs: o.integerX ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] : undefined,
        },
        {
          stroke: axisStroke,
          grid,
          label: o.yLabel,
          labelSize: o.yLabel ? 18 : 0,
          size: 56,
          values: (_u, ticks) => ticks.map((t) => compact(t)),
        },
      ],
      series: [
        {
          label: o.xLabel ?? (o.time ? 'time' : 'x'),
          value: (_u, v) => (v === null || v === undefined ? '–' : o.time ? fmtClock(v * 1000) : String(v)),
        },
        ...o.series.map<uPlot.Series>((s) => ({
          label: s.label,
          stroke: s.color,
          width: s.dash ? 1.25 : 1.75,
          dash: s.dash ? [5, 4] : undefined,
          points: s.points ? { show: true, size: 6, fill: s.color } : { show: false },
          spanGaps: s.points ?? false,
          value: (_u, v) => (v === null || v === undefined ? '–' : (s.format ?? compact)(v)),
        })),
      ],
    };
  }

  /** Stops observing the container and destroys the plot. */
  dispose(): void {
    this.observer.disconnect();
    this.plot?.destroy();
  }
}

function compact(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e6 || a < 1e-3) return v.toExponential(1);
  if (a >= 1000) return `${(v / 1000).toFixed(a >= 1e4 ? 0 : 1)}k`;
  return String(Number(v.toPrecision(3)));
}
