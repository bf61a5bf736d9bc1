/**
 * The built dashboard in real headless Chromium following a real (short) training run: the training
 * pipeline on a tiny synthetic data set, its events mapped by toTrainFeed and published through the real
 * feed server, the page drawing loss and BLEU curves, figures, and probe images with attention.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, tap } from 'rxjs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toTrainFeed } from '../../pipelines/train-feed.js';
import { trainPipeline } from '../../pipelines/train.js';
import { initBackend } from '../../src/backend/index.js';
import { generateSynthetic, loadKarpathy, type KarpathyDataset } from '../../src/data/index.js';
import { FeedServer } from '../../src/sinks/feed-server.js';
import { launchChromium } from './browser.js';
import { buildDashboard } from './build-dashboard.js';

const SHOTS = join(process.cwd(), 'artifacts', 'screenshots');

let root: string;
let dist: string;
let data: KarpathyDataset;
let browser: Browser;
let feed: FeedServer;
let page: Page;
const errors: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dashboard-training-'));
  dist = join(root, 'dist');
  await initBackend();
  const [b, ds] = await Promise.all([
    launchChromium(),
    generateSynthetic({ outDir: join(root, 'data'), count: 48, seed: 5 }),
    buildDashboard(dist),
  ]);
  browser = b;
  data = await loadKarpathy(ds.jsonPath, ds.imageDir);
  feed = await FeedServer.start({ port: 0, dashboardDir: dist, hello: { server: 'captioner', modelId: 'training', backend: 'wasm', mode: 'train' } });
  page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  page.on('pageerror', (e) => errors.push(e.message));
});

afterAll(async () => {
  await browser?.close();
  await feed?.close();
  await rm(root, { recursive: true, force: true });
});

describe('dashboard following a real training run', () => {
  it('opens on the training tab and draws curves, figures and probes as the run goes', async () => {
    await page.goto(feed.address().url);
    await page.waitForSelector('#connection[data-status="open"]');
    await page.waitForSelector('[data-tab="training"][aria-selected="true"]');
    // Record, frame by frame, how many steps the page holds: proof the curves grow during the run.
    await page.evaluate(() => {
      const w = globalThis as unknown as { seen: number[]; dashboard: { state: { training: { steps: { length: number } } } } };
      w.seen = [];
      const tick = (): void => {
        const n = w.dashboard.state.training.steps.length;
        if (w.seen.at(-1) !== n) w.seen.push(n);
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });

    const run = trainPipeline({
      dataset: data, outDir: join(root, 'run'), epochs: 3, batchSize: 4, stepsPerEpoch: 4, valLimit: 4, beamSize: 2,
      probeCount: 3, maxDecodeSteps: 8, imageSize: 32,
      model: { encoder: { kind: 'compact-cnn', channels: [8, 16] }, attentionDim: 16, embedDim: 16, decoderDim: 32 },
    }).pipe(
      toTrainFeed(),
      tap((msg) => feed.publish(msg)),
    );
    const end = await lastValueFrom(run);
    expect(end).toMatchObject({ type: 'train.end', reason: 'completed', epochs: 3 });

    await page.waitForFunction(() => document.querySelector('[data-tile="status"] .tile-value')?.textContent === 'ended: completed');
    expect(await page.textContent('[data-tile="step"] .tile-value')).toBe('12');
    expect(await page.textContent('[data-tile="epoch"] .tile-value')).toBe('2');
    expect(await page.textContent('[data-tile="best BLEU-4"] .tile-value')).toMatch(/^\d+\.\d\d$/);
    expect(await page.textContent('[data-tile="since improvement"] .tile-value')).toMatch(/^\d+ epochs?$/);
    expect(await page.textContent('[data-tile="learning rate"] .tile-value')).toBe('4.00e-4');
    const seen = await page.evaluate(() => (globalThis as unknown as { seen: number[] }).seen);
    expect(seen.at(-1)).toBe(12);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    const validations = await page.evaluate(() => (globalThis as unknown as { dashboard: { state: { training: { validations: { length: number } } } } }).dashboard.state.training.validations.length);
    expect(validations).toBe(3);
    // Every chart has data (its "waiting for data" note is gone) and a canvas.
    expect(await page.$$eval('#view-training .chart', (cs) => cs.map((c) => [c.querySelector('canvas') !== null, (c.querySelector('.chart-empty') as HTMLElement).hidden]))).toEqual([
      [true, true], [true, true], [true, true], [true, true], [true, true],
    ]);

    // Loss, BLEU, scene grounding (synthetic data), learning rate and speed charts hold every step / epoch of the run.
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#view-training .chart')).map((c) => (c as HTMLElement).dataset['points']).join() === '12,3,3,12,12');
    expect(await page.textContent('[data-tile="attention hits"] .tile-value')).toMatch(/^\d+\.\d\d$/);
    await page.waitForSelector('.probe-card');
    expect(await page.$$eval('.probe-card', (cs) => cs.length)).toBe(3);
    expect(await page.textContent('#view-training h3')).toContain('epoch 2');
    expect((await page.textContent('.probe-refs li'))?.length).toBeGreaterThan(0);
    await page.hover('.probe-card .word[data-index="0"]');
    const opaque = await page.$eval('.probe-card canvas', (c) => {
      const canvas = c as HTMLCanvasElement;
      const d = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
      return n;
    });
    expect(opaque).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, 'training-run.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
