import type { TrainValidationMessage } from '../../../src/protocol/messages.js';
import { h, setText } from '../dom.js';
import { fmt, fmtBleu, fmtDuration } from '../format.js';
import { AttentionViewer } from '../render/attention-viewer.js';
import { LineChart } from '../render/line-chart.js';
import type { OverlaySettingsStore } from '../render/overlay-settings.js';
import type { DashboardState, StepPoint } from '../state/dashboard-state.js';
import { Tiles } from './tiles.js';

/** Chart values are already x100; NLTK's near-zero BLEU (1e-230) reads as 0.00, not as an exponent. */
const bleuX100 = (v: number): string => v.toFixed(2);

/** Charts redraw at most this often: a loss curve does not need 60 Hz, and uPlot work stays off the hot path. */
const CHART_INTERVAL_MS = 250;
/** The loss chart shows every point up to this many, then a strided subset (the ring keeps them all). */
const MAX_PLOTTED = 4000;

/**
 * Training progress from train.step / train.validation / train.end: figures, loss and BLEU curves,
 * learning rate and speed, and the probe images with generated vs reference captions and attention.
 */
export class TrainingView {
  readonly root: HTMLElement;
  private readonly tiles = new Tiles(['status', 'epoch', 'step', 'loss', 'learning rate', 'examples/s', 'ETA', 'best BLEU-4', 'since improvement', 'attention hits']);
  private readonly loss = new LineChart({
    title: 'Loss per step',
    xLabel: 'step',
    series: [
      { label: 'loss', color: '#4e79a7' },
      { label: 'cross-entropy', color: '#59a14f', dash: true },
      { label: 'attention penalty', color: '#e15759', dash: true },
    ],
  });
  private readonly bleu = new LineChart({
    title: 'Validation BLEU (x100) per epoch',
    xLabel: 'epoch',
    integerX: true,
    series: [
      { label: 'BLEU-4', format: bleuX100, color: '#e15759', points: true },
      { label: 'BLEU-1', format: bleuX100, color: '#bab0ac', dash: true, points: true },
      { label: 'BLEU-2', format: bleuX100, color: '#9c755f', dash: true, points: true },
      { label: 'BLEU-3', format: bleuX100, color: '#f28e2b', dash: true, points: true },
    ],
  });
  /** Shown once a validation carries scene annotations (synthetic data): is the model right, and does it look at what it names. */
  private readonly grounding = new LineChart({
    title: 'Validation scenes (%) per epoch',
    xLabel: 'epoch',
    integerX: true,
    series: [
      { label: 'attention hits', format: bleuX100, color: '#e15759', points: true },
      { label: 'content correct', format: bleuX100, color: '#4e79a7', points: true },
      { label: 'complete + correct', format: bleuX100, color: '#59a14f', dash: true, points: true },
      { label: 'objects named', format: bleuX100, color: '#bab0ac', dash: true, points: true },
    ],
  });
  private readonly lr = new LineChart({ title: 'Learning rate', xLabel: 'step', series: [{ label: 'lr', color: '#b07aa1' }] });
  private readonly speed = new LineChart({ title: 'Examples per second', xLabel: 'step', series: [{ label: 'ex/s', color: '#76b7b2' }] });
  private readonly probesEl = h('div', { class: 'probe-grid' });
  private readonly probesHead = h('h3', {}, 'Probe images');
  private readonly viewers: AttentionViewer[] = [];
  private drawnVersion = -1;
  private drawnProbes: TrainValidationMessage | undefined;
  private lastCharts = 0;

  constructor(private readonly settings: OverlaySettingsStore) {
    this.root = h(
      'section',
      { class: 'view', id: 'view-training' },
      h('div', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', {}, 'Training')), this.tiles.root),
      h('div', { class: 'chart-grid' }, this.loss.root, this.bleu.root, this.grounding.root, this.lr.root, this.speed.root),
      h('div', { class: 'panel' }, this.probesHead, h('div', { class: 'hint' }, 'Generated caption (hover a word for its attention) against the references.'), this.probesEl),
    );
  }

  /** Draws what changed; charts at most every CHART_INTERVAL_MS. Returns true while a chart update is pending. */
  render(state: DashboardState, now: number): boolean {
    const t = state.training;
    const changed = state.version !== this.drawnVersion;
    if (!changed) return false;
    this.renderTiles(state, t.steps.last());
    if (now - this.lastCharts >= CHART_INTERVAL_MS) {
      this.drawnVersion = state.version;
      this.lastCharts = now;
      this.renderCharts(state);
    }
    if (t.probes !== this.drawnProbes) this.renderProbes(t.probes);
    return state.version !== this.drawnVersion;
  }

  private renderTiles(state: DashboardState, last: StepPoint | undefined): void {
    const t = state.training;
    const val = t.validations.last();
    const status = t.end ? `ended: ${t.end.reason}` : last ? 'running' : 'waiting';
    const tone = t.end ? (t.end.reason === 'failed' ? 'bad' : 'good') : last ? 'good' : undefined;
    this.tiles.set('status', t.run > 0 && !t.end ? `${status} (run ${t.run + 1})` : status, tone);
    this.tiles.set('epoch', last ? String(last.epoch) : val ? String(val.epoch) : '–');
    this.tiles.set('step', last ? String(last.x) : '–');
    this.tiles.set('loss', fmt(last?.loss, 3));
    this.tiles.set('learning rate', last ? last.learningRate.toExponential(2) : '–');
    this.tiles.set('examples/s', fmt(last?.examplesPerSec, 1));
    this.tiles.set('ETA', t.end ? 'done' : fmtDuration(last?.etaSec));
    const best = t.end?.bestBleu4 ?? val?.bestBleu4;
    this.tiles.set('best BLEU-4', fmtBleu(best), val?.improved ? 'good' : undefined);
    const esi = val?.epochsSinceImprovement;
    this.tiles.set('since improvement', esi === undefined ? '–' : `${esi} epoch${esi === 1 ? '' : 's'}`, esi !== undefined && esi >= 4 ? 'warn' : undefined);
    this.tiles.set('attention hits', val?.grounding ? fmtBleu(val.grounding.hitRate) : '–');
  }

  private renderCharts(state: DashboardState): void {
    const steps = state.training.steps;
    const stride = Math.max(1, Math.ceil(steps.length / MAX_PLOTTED));
    const pts: StepPoint[] = [];
    for (let i = 0; i < steps.length; i += stride) pts.push(steps.at(i)!);
    const lastPt = steps.last();
    if (lastPt && pts[pts.length - 1] !== lastPt) pts.push(lastPt);
    const x = pts.map((p) => p.x);
    this.loss.setData([x, pts.map((p) => p.loss), pts.map((p) => p.crossEntropy), pts.map((p) => p.attentionPenalty)]);
    this.lr.setData([x, pts.map((p) => (p.learningRate > 0 ? p.learningRate : null))]);
    this.speed.setData([x, pts.map((p) => p.examplesPerSec)]);
    const vals = state.training.validations;
    this.bleu.setData([vals.map((v) => v.epoch), ...[3, 0, 1, 2].map((n) => vals.map((v) => (v.bleu[n] ?? 0) * 100))]);
    const grounded = vals.toArray().filter((v) => v.grounding !== undefined);
    this.grounding.root.hidden = grounded.length === 0;
    const g = (key: 'hitRate' | 'contentAccuracy' | 'completeAccuracy' | 'objectCoverage') => grounded.map((v) => v.grounding![key] * 100);
    this.grounding.setData([grounded.map((v) => v.epoch), g('hitRate'), g('contentAccuracy'), g('completeAccuracy'), g('objectCoverage')]);
  }

  private renderProbes(msg: TrainValidationMessage | undefined): void {
    this.drawnProbes = msg;
    setText(this.probesHead, msg ? `Probe images · epoch ${msg.epoch} · BLEU-4 ${fmtBleu(msg.bleu[3])}` : 'Probe images');
    if (!msg || msg.probes.length === 0) {
      this.probesEl.replaceChildren(h('div', { class: 'muted' }, 'waiting for the first validation…'));
      return;
    }
    while (this.viewers.length > msg.probes.length) this.viewers.pop()?.dispose();
    while (this.viewers.length < msg.probes.length) this.viewers.push(new AttentionViewer(this.settings, { resolution: 112, className: 'attn-small' }));
    this.probesEl.replaceChildren(
      ...msg.probes.map((p, i) => {
        const viewer = this.viewers[i]!;
        // The same probe image changes captions between epochs: key the viewer by epoch too.
        viewer.set({ ...p, id: `${p.id}@${msg.epoch}` });
        return h(
          'div',
          { class: 'probe-card', 'data-probe': p.id },
          viewer.root,
          h('div', { class: 'probe-refs' }, h('div', { class: 'muted small' }, 'references'),
            h('ul', {}, ...p.references.slice(0, 5).map((r) => h('li', {}, r)))),
        );
      }),
    );
  }
}
