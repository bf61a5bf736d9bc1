import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type FeedMessage, type TrainStepMessage } from '../../src/protocol/messages.js';
import { applyFrame, applyMessage, createDashboardState, setConnection } from '../../dashboards/src/state/dashboard-state.js';
import { parseFeedMessage } from '../../dashboards/src/state/parse-message.js';
import { RateMeter } from '../../dashboards/src/state/rate-meter.js';

const caps = { captions: 3, failures: 3, stats: 4, steps: 5, validations: 3 };
const env = { v: PROTOCOL_VERSION, ts: 1000 } as const;

function step(epoch: number, s: number, loss = 1): TrainStepMessage {
  return { ...env, type: 'train.step', epoch, step: s, loss, crossEntropy: loss, attentionPenalty: 0, learningRate: 1e-3, examplesPerSec: 10, etaSec: 5 };
}

function caption(id: string): FeedMessage {
  return {
    ...env, type: 'caption', id, source: id, caption: 'a b', words: ['a', 'b'], score: -1, finished: true,
    alternatives: [], gridSize: 2, attention: '', thumbnail: 'data:,', timings: {}, modelId: 'm',
  };
}

describe('parseFeedMessage', () => {
  it('accepts known types of protocol v1', () => {
    const r = parseFeedMessage(JSON.stringify(caption('x')));
    expect(r.kind).toBe('message');
  });

  it('flags other major versions, unknown types, and junk', () => {
    expect(parseFeedMessage(JSON.stringify({ v: 2, type: 'caption', ts: 1 }))).toEqual({ kind: 'version', v: 2 });
    expect(parseFeedMessage(JSON.stringify({ v: 1, type: 'future.thing', ts: 1 }))).toEqual({ kind: 'unknown', type: 'future.thing' });
    expect(parseFeedMessage('{nope')).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/not JSON/) });
    expect(parseFeedMessage('42')).toMatchObject({ kind: 'invalid' });
    expect(parseFeedMessage(JSON.stringify({ v: 1, type: 'stats' }))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/ts/) });
    expect(parseFeedMessage(new ArrayBuffer(2))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/binary/) });
  });
});

describe('dashboard state reducer', () => {
  it('counts received and ignored frames and bumps the version on each', () => {
    const s = createDashboardState('ws://x/feed', caps);
    applyFrame(s, parseFeedMessage(JSON.stringify({ ...env, type: 'hello', server: 's', modelId: 'm', backend: 'wasm', mode: 'watch' })));
    applyFrame(s, parseFeedMessage(JSON.stringify({ v: 1, type: 'mystery', ts: 1 })));
    applyFrame(s, parseFeedMessage(JSON.stringify({ v: 9, type: 'hello', ts: 1 })));
    expect(s.hello?.backend).toBe('wasm');
    expect(s.received).toBe(1);
    expect(s.ignored).toBe(2);
    expect(s.versionMismatch).toBe(9);
    expect(s.version).toBeGreaterThanOrEqual(3);
  });

  it('keeps captions, failures and stats bounded, newest last', () => {
    const s = createDashboardState('ws://x/feed', caps);
    for (let i = 0; i < 10; i++) applyMessage(s, caption(`c${i}`));
    for (let i = 0; i < 5; i++) applyMessage(s, { ...env, type: 'caption.failed', id: `f${i}`, source: 'f', reason: i % 2 ? 'corrupt' : 'empty', message: '' });
    expect(s.captions.toArray().map((c) => c.id)).toEqual(['c7', 'c8', 'c9']);
    expect(s.captions.total).toBe(10);
    expect(s.failures.length).toBe(3);
    expect(s.failuresByReason).toEqual({ empty: 3, corrupt: 2 });
  });

  it('makes step x run-wide when the server counts steps per epoch', () => {
    const s = createDashboardState('ws://x/feed', { ...caps, steps: 100 });
    for (const [e, st] of [[1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [3, 1]] as const) applyMessage(s, step(e, st));
    expect(s.training.steps.map((p) => p.x)).toEqual([1, 2, 3, 4, 5, 6]);
    const s0 = createDashboardState('ws://x/feed', { ...caps, steps: 100 });
    for (const [e, st] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) applyMessage(s0, step(e, st));
    expect(s0.training.steps.map((p) => p.x)).toEqual([0, 1, 2, 3]);
  });

  it('keeps global step numbers as they are', () => {
    const s = createDashboardState('ws://x/feed', { ...caps, steps: 100 });
    for (const [e, st] of [[1, 10], [1, 20], [2, 30]] as const) applyMessage(s, step(e, st));
    expect(s.training.steps.map((p) => p.x)).toEqual([10, 20, 30]);
  });

  it('keeps the newest probes, strips them from the validation history, and starts a new run after train.end', () => {
    const s = createDashboardState('ws://x/feed', caps);
    applyMessage(s, step(1, 1));
    applyMessage(s, step(2, 1));
    const probes = [{ id: 'p', thumbnail: 'data:,', caption: 'a', references: ['a'], words: ['a'], gridSize: 1, attention: '' }];
    // Validation of epoch 1 arriving after epoch 2 began must not look like a new run.
    applyMessage(s, { ...env, type: 'train.validation', epoch: 1, bleu: [0.5, 0.4, 0.3, 0.2], bestBleu4: 0.2, epochsSinceImprovement: 0, learningRate: 1e-3, improved: true, probes });
    expect(s.training.run).toBe(0);
    expect(s.training.validations.last()).not.toHaveProperty('probes');
    expect(s.training.probes?.probes).toHaveLength(1);
    applyMessage(s, { ...env, type: 'train.end', reason: 'early-stopped', bestBleu4: 0.2, epochs: 2 });
    expect(s.training.end?.reason).toBe('early-stopped');
    applyMessage(s, step(1, 1));
    expect(s.training.run).toBe(1);
    expect(s.training.end).toBeUndefined();
    expect(s.training.steps.length).toBe(1);
    expect(s.training.validations.length).toBe(0);
  });

  it('starts a new run when the epoch goes backwards', () => {
    const s = createDashboardState('ws://x/feed', caps);
    applyMessage(s, step(3, 1));
    applyMessage(s, step(1, 1));
    expect(s.training.run).toBe(1);
    expect(s.training.steps.length).toBe(1);
  });

  it('records connection changes', () => {
    const s = createDashboardState('ws://x/feed', caps);
    const v = s.version;
    setConnection(s, 'reconnecting', { attempt: 2, retryInMs: 400, error: 'closed (code 1006)' });
    expect(s.connection).toMatchObject({ status: 'reconnecting', attempt: 2, retryInMs: 400, url: 'ws://x/feed' });
    expect(s.version).toBe(v + 1);
  });

  it('folds 100k messages quickly (the per-message path must stay cheap)', () => {
    const s = createDashboardState('ws://x/feed');
    const text = JSON.stringify(caption('c'));
    const t0 = performance.now();
    for (let i = 0; i < 100_000; i++) applyFrame(s, parseFeedMessage(text));
    const perMsgUs = ((performance.now() - t0) * 1000) / 100_000;
    expect(s.captions.length).toBe(200);
    expect(perMsgUs).toBeLessThan(50);
  });
});

describe('RateMeter', () => {
  it('measures arrivals per second over the window', () => {
    const m = new RateMeter(1000);
    expect(m.sample(0, 0)).toBe(0);
    expect(m.sample(500, 50)).toBe(100);
    expect(m.sample(1000, 100)).toBe(100);
    expect(m.sample(3000, 100)).toBeCloseTo(0, 5);
  });
});
