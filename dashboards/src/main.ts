/**
 * Dashboard entry: one WebSocket feeds a mutable state (cheap, per message); a requestAnimationFrame loop
 * draws the visible view when the state changed (at most once per frame, never per message).
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { $, h } from './dom.js';
import { COLORMAPS, type ColormapName } from './render/colormap.js';
import { OverlaySettingsStore } from './render/overlay-settings.js';
import { applyFrame, createDashboardState, setConnection } from './state/dashboard-state.js';
import { FeedConnection } from './state/feed-connection.js';
import { feedUrl } from './state/feed-url.js';
import { parseFeedMessage } from './state/parse-message.js';
import { CaptionView } from './views/caption-view.js';
import { HeaderView } from './views/header-view.js';
import { HealthView } from './views/health-view.js';
import { TrainingView } from './views/training-view.js';

type TabName = 'captions' | 'health' | 'training';

const url = feedUrl(location.href);
const state = createDashboardState(url);
const settings = new OverlaySettingsStore();
const header = new HeaderView();
const views = {
  captions: new CaptionView(settings),
  health: new HealthView(),
  training: new TrainingView(settings),
};

const app = $('#app');
const tabButtons = new Map<TabName, HTMLButtonElement>();
const tabs = h('nav', { class: 'tabs', role: 'tablist' });
for (const [name, label] of [['captions', 'Captions'], ['health', 'Service health'], ['training', 'Training']] as const) {
  const b = h('button', { type: 'button', role: 'tab', class: 'tab', 'data-tab': name }, label, h('span', { class: 'badge' }));
  b.addEventListener('click', () => show(name, true));
  tabButtons.set(name, b);
  tabs.append(b);
}
app.append(header.root, h('div', { class: 'toolbar' }, tabs, overlayControls()), ...Object.values(views).map((v) => v.root));

let lastDrawn = -1;
let lastTick = 0;
/** Set when a view deferred work (throttled charts) and wants the next frame even without new messages. */
let pending = false;
let active: TabName = (new URL(location.href).searchParams.get('tab') as TabName | null) ?? 'captions';
let chosenByUser = new URL(location.href).searchParams.has('tab');
show(active, chosenByUser);

function show(name: TabName, byUser: boolean): void {
  if (!(name in views)) name = 'captions';
  active = name;
  chosenByUser ||= byUser;
  for (const [n, v] of Object.entries(views)) v.root.hidden = n !== name;
  for (const [n, b] of tabButtons) b.setAttribute('aria-selected', String(n === name));
  lastDrawn = -1;
}

function overlayControls(): HTMLElement {
  const s = settings.value;
  const opacity = h('input', { type: 'range', min: 0, max: 1, step: 0.05, value: s.opacity, id: 'overlay-opacity' });
  const smoothing = h('input', { type: 'range', min: 0, max: 1.5, step: 0.05, value: s.smoothing, id: 'overlay-smoothing' });
  const cmap = h('select', { id: 'overlay-colormap' }, ...COLORMAPS.map((c) => h('option', { value: c, selected: c === s.colormap }, c)));
  opacity.addEventListener('input', () => settings.update({ opacity: Number(opacity.value) }));
  smoothing.addEventListener('input', () => settings.update({ smoothing: Number(smoothing.value) }));
  cmap.addEventListener('change', () => settings.update({ colormap: cmap.value as ColormapName }));
  return h(
    'div',
    { class: 'overlay-controls' },
    h('span', { class: 'muted' }, 'Attention overlay'),
    h('label', {}, 'opacity ', opacity),
    h('label', {}, 'smoothing ', smoothing),
    h('label', {}, 'colours ', cmap),
  );
}

const connection = new FeedConnection({
  url,
  onFrame: (data) => {
    const before = state.hello;
    applyFrame(state, parseFeedMessage(data));
    // A trainer's page opens on the training tab unless the user picked one.
    if (state.hello !== before && !chosenByUser) show(state.hello?.mode === 'train' ? 'training' : 'captions', false);
  },
  onStatus: (status, info) => setConnection(state, status, info),
});
connection.start();
addEventListener('pagehide', () => connection.stop());

function frame(now: number): void {
  const wall = Date.now();
  // Redraw on change, and twice a second regardless so "last message 3 s ago" and rates stay true.
  if (pending || state.version !== lastDrawn || now - lastTick > 500) {
    lastDrawn = state.version;
    lastTick = now;
    header.render(state, wall);
    pending = views[active].render(state, wall) === true;
    setBadge('captions', state.captions.total);
    setBadge('health', state.stats.total);
    setBadge('training', state.training.steps.total);
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

function setBadge(name: TabName, n: number): void {
  const badge = tabButtons.get(name)?.querySelector('.badge');
  const text = n > 0 ? String(n) : '';
  if (badge && badge.textContent !== text) badge.textContent = text;
}

// Exposed for the end-to-end test and for poking at the page from the console.
(globalThis as unknown as { dashboard: unknown }).dashboard = { state, settings, show };
