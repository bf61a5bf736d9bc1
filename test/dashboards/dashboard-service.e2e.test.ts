/**
 * The built dashboard in real headless Chromium against the real caption service (watched folder,
 * replica pool, feed server) with a tiny random model: images dropped into the folder appear with
 * their captions and attention overlays, failures are listed, health charts fill from stats, and the
 * page reconnects by itself when the service restarts on the same port.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCaptionFolder, type CaptionFolderService } from '../../pipelines/caption-folder.js';
import { launchChromium } from './browser.js';
import { buildDashboard } from './build-dashboard.js';
import { DIST_DIR, syntheticImage } from './harness.js';
import { saveTinyModel } from './tiny-model.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';

const SHOTS = join(process.cwd(), 'artifacts', 'screenshots');
const TOKEN = 'dash-token';

let root: string;
let inbox: string;
let modelDir: string;
let browser: Browser;
let service: CaptionFolderService;
let page: Page;
const errors: string[] = [];

function start(port: number): Promise<CaptionFolderService> {
  return startCaptionFolder({ dir: inbox, modelDir, workers: 1, backend: SUITE_BACKEND, port, token: TOKEN, beamSize: 3, stabilityMs: 150, statsIntervalMs: 300 });
}

/** Writes scene images elsewhere, then moves them in (the folder source takes only complete files). */
async function drop(names: string[], bytes: (i: number) => Promise<Buffer>): Promise<void> {
  const staging = join(root, `staging-${Date.now()}`);
  await mkdir(staging, { recursive: true });
  for (const [i, n] of names.entries()) await writeFile(join(staging, n), await bytes(i));
  for (const n of names) await rename(join(staging, n), join(inbox, n));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dashboard-service-'));
  inbox = join(root, 'inbox');
  await mkdir(inbox);
  // The feed server serves dashboards/dist (git-ignored build output), so build it there.
  const [b, dir] = await Promise.all([launchChromium(), saveTinyModel(root), buildDashboard(DIST_DIR)]);
  browser = b;
  modelDir = dir;
  service = await start(0);
  page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  page.on('pageerror', (e) => errors.push(e.message));
  await mkdir(SHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await service?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('dashboard on the real caption service', () => {
  it('is served by the feed server and connects with the token from the page URL', async () => {
    await page.goto(`${service.feed!.address().url}/?token=${TOKEN}`);
    await page.waitForSelector('#connection[data-status="open"]');
    expect(await page.textContent('.server-info')).toMatch(new RegExp(`^watch · model .+ · backend ${SUITE_BACKEND} · captioner$`));
  });

  it('shows dropped images with captions, and hovering a word draws its attention over the thumbnail', async () => {
    const names = ['scene-0.jpg', 'scene-1.jpg', 'scene-2.jpg', 'scene-3.jpg'];
    await drop(names, async (i) => (await syntheticImage(i * 5)).jpeg);
    await page.waitForFunction((n) => document.querySelectorAll('.caption-card').length >= n, names.length, { timeout: 30_000 });
    const sources = await page.$$eval('.caption-card', (cards) => cards.map((c) => c.getAttribute('title')));
    expect(sources.sort()).toEqual(names);
    const detail = await page.textContent('.caption-detail');
    expect(detail).toContain('model');
    expect(detail).toContain('total');
    const chips = await page.$$eval('.attn-large .word', (ws) => ws.map((w) => w.textContent));
    expect(chips.length).toBeGreaterThan(0);
    await page.hover('.attn-large .word[data-index="0"]');
    const opaque = await page.$eval('.attn-large canvas', (c) => {
      const canvas = c as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) n++;
      return n;
    });
    expect(opaque).toBeGreaterThan(0);
    expect(await page.getAttribute('.attn-large canvas', 'data-word')).toBe(chips[0]);
    await page.screenshot({ path: join(SHOTS, 'service-captions.png'), fullPage: true });
  });

  it('lists a file that cannot be decoded under failures, with its reason', async () => {
    await drop(['broken.jpg'], async () => Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    await page.waitForFunction(() => document.querySelector('.failure-list')?.textContent?.includes('broken.jpg'), undefined, { timeout: 20_000 });
    expect(await page.textContent('.failure-list .tag-bad')).toMatch(/\w/);
  });

  it('charts the service stats (throughput, latency, queue, batches, failures by reason)', async () => {
    await page.click('[data-tab="health"]');
    // A native backend's tile adds its TensorFlow version and threads after the name.
    await page.waitForFunction((name) => document.querySelector('[data-tile="backend"] .tile-value')?.textContent?.split(' ')[0] === name, SUITE_BACKEND);
    await page.waitForFunction(() => document.querySelector('[data-tile="ready"] .tile-value')?.textContent === 'ready');
    await page.waitForFunction(() => Number(document.querySelector('[data-tile="images out"] .tile-value')?.textContent) >= 4);
    expect(await page.$$eval('#view-health .chart canvas', (cs) => cs.length)).toBeGreaterThanOrEqual(4);
    // Stats arrive every 2 s, so the failure count may trail the caption.failed message.
    await page.waitForFunction(() => document.querySelector('[data-tile="failed"] .tile-value')?.textContent === '1', undefined, { timeout: 20_000 });
    await page.waitForTimeout(700);
    await page.screenshot({ path: join(SHOTS, 'service-health.png'), fullPage: true });
    await page.click('[data-tab="captions"]');
  });

  it('reconnects by itself when the service restarts on the same port', async () => {
    const port = service.feed!.address().port;
    await service.stop();
    await page.waitForSelector('#connection[data-status="reconnecting"]', { timeout: 10_000 });
    service = await start(port);
    await page.waitForSelector('#connection[data-status="open"]', { timeout: 20_000 });
    const before = await page.$$eval('.caption-card', (cs) => cs.length);
    await drop(['after-restart.jpg'], async () => (await syntheticImage(9)).jpeg);
    await page.waitForFunction((n) => document.querySelectorAll('.caption-card').length > n, before, { timeout: 30_000 });
    expect(await page.getAttribute('.caption-card', 'title')).toBe('after-restart.jpg');
    expect(errors).toEqual([]);
  });
});
