import { open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startCaptionFolder, type CaptionFolderService } from '../../pipelines/caption-folder.js';
import type { CaptionMessage, FeedMessage } from '../../src/protocol/messages.js';
import { dequantiseAttention } from '../../src/protocol/messages.js';
import { dropImages, hashedName, imageBytes, makeTinyModel, tempDir, unhashed, waitFor } from './helpers.js';
import { SUITE_BACKEND, SUITE_TF_BACKEND } from '../fixtures/suite-backend.js';

const TOKEN = 's3cret-token';

describe('caption-folder service (real files, replicas, HTTP and WebSocket)', () => {
  let root: string;
  let inbox: string;
  let service: CaptionFolderService;
  let ws: WebSocket;
  const messages: FeedMessage[] = [];
  let url: string;

  const results = async (): Promise<string[]> => (await readdir(service.outDir)).filter((f) => f.endsWith('.json')).map(unhashed);
  const listing = async (sub: string): Promise<string[]> => (await readdir(join(inbox, sub))).map(unhashed).sort();

  beforeAll(async () => {
    root = await tempDir('service');
    inbox = join(root, 'inbox');
    const modelDir = await makeTinyModel(root);
    service = await startCaptionFolder({
      dir: inbox,
      modelDir,
      workers: 2,
      backend: SUITE_BACKEND,
      port: 0,
      token: TOKEN,
      maxBatch: 8,
      maxDelayMs: 20,
      beamSize: 2,
      stabilityMs: 250,
      incompleteGraceMs: 2000,
      statsIntervalMs: 200,
      limitInputPixels: 1_000_000,
      maxBodyBytes: 200_000,
    });
    url = service.feed!.address().url;
    ws = new WebSocket(`${url.replace('http', 'ws')}/?token=${TOKEN}`);
    ws.on('message', (data) => messages.push(JSON.parse(String(data)) as FeedMessage));
    await new Promise((res, rej) => ws.once('open', res).once('error', rej));
  });

  afterAll(async () => {
    ws?.close();
    await service?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('greets WebSocket clients with hello naming model and backend', async () => {
    await waitFor(() => messages.some((m) => m.type === 'hello'), 'hello');
    const hello = messages.find((m) => m.type === 'hello');
    expect(hello).toMatchObject({ v: 1, type: 'hello', mode: 'watch', backend: SUITE_BACKEND, modelId: service.pool.info.modelId });
  });

  it('captions 200 images dropped at once, each exactly once, and leaks no tensors', async () => {
    const tensorsBefore = service.pool.memory().numTensors;
    const names = await dropImages(inbox, 200);
    await waitFor(async () => (await results()).length >= 200 && (await listing('processed')).length >= 200, '200 results', 50_000);
    expect((await results()).sort()).toEqual(names.map((n) => `${n}.json`).sort());
    expect(await listing('processed')).toEqual(names.sort());
    expect(await listing('.processing')).toEqual([]);
    expect(await listing('failed')).toEqual([]);
    const record = JSON.parse(await readFile(await hashedName(service.outDir, 'img-007.png.json'), 'utf8'));
    expect(unhashed(record.id)).toBe('img-007.png');
    expect(record).toMatchObject({ source: 'img-007.png', backend: SUITE_BACKEND, modelId: service.pool.info.modelId, gridSize: 4 });
    expect(typeof record.caption).toBe('string');
    expect(record.attention.length).toBeGreaterThan(0);
    expect(record.attention[0]).toHaveLength(16);
    expect(Object.keys(record.timings)).toEqual(['wait', 'decode', 'batch', 'queue', 'model', 'total']);
    await waitFor(() => messages.filter((m) => m.type === 'caption').length >= 200, '200 caption messages');
    const captions = messages.filter((m) => m.type === 'caption');
    expect(new Set(captions.map((m) => m.id)).size).toBe(200);
    const c = captions[0]!;
    expect(c.thumbnail).toMatch(/^data:image\/jpeg;base64,/);
    expect(dequantiseAttention(c.attention, c.gridSize).length).toBe(captions[0]!.type === 'caption' ? c.words.length + (c.finished ? 1 : 0) : 0);
    // Batching happened: more than one image per model call on average.
    const sizes = service.metrics.stats().batchSizes;
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(service.pool.memory().numTensors).toBe(tensorsBefore);
    expect(service.source.stats().inFlight).toBe(0);
  });

  it('sends a client that asked for no thumbnails the same captions without them', async () => {
    const program = new WebSocket(`${url.replace('http', 'ws')}/?token=${TOKEN}&thumbnails=0`);
    const got: FeedMessage[] = [];
    program.on('message', (data) => got.push(JSON.parse(String(data)) as FeedMessage));
    await new Promise((res, rej) => program.once('open', res).once('error', rej));
    try {
      const names = await dropImages(inbox, 2, 300);
      const captionsOf = (ms: FeedMessage[]) => ms.filter((m) => m.type === 'caption' && names.includes(m.source)) as CaptionMessage[];
      await waitFor(() => captionsOf(got).length === 2 && captionsOf(messages).length === 2, 'both captions at both clients');
      for (const m of captionsOf(got)) expect(m.thumbnail).toBe('');
      for (const m of captionsOf(messages)) expect(m.thumbnail).toMatch(/^data:image\/jpeg;base64,/);
      expect(captionsOf(got).map((m) => m.caption).sort()).toEqual(captionsOf(messages).map((m) => m.caption).sort());
    } finally {
      program.close();
    }
  });

  it('takes a file written slowly in chunks only once it is complete', async () => {
    const bytes = await imageBytes(999, 'jpeg', 200);
    const path = join(inbox, 'slow.jpg');
    const fh = await open(path, 'w');
    const chunk = Math.ceil(bytes.length / 6);
    for (let i = 0; i < bytes.length; i += chunk) {
      await fh.write(bytes.subarray(i, i + chunk));
      await new Promise((r) => setTimeout(r, 120));
    }
    await fh.close();
    const writtenAt = Date.now();
    await waitFor(async () => (await results()).includes('slow.jpg.json'), 'slow.jpg result');
    const record = JSON.parse(await readFile(await hashedName(service.outDir, 'slow.jpg.json'), 'utf8'));
    expect(Date.parse(record.createdAt)).toBeGreaterThanOrEqual(writtenAt);
    expect(await listing('failed')).toEqual([]);
    expect((await readFile(await hashedName(join(inbox, 'processed'), 'slow.jpg'))).equals(bytes)).toBe(true);
  });

  it('waits for the end marker of a file whose writer paused longer than the stability window', async () => {
    // Noise makes a big file whose first half holds a complete, decodable header.
    const bytes = await sharp({ create: { width: 400, height: 300, channels: 3, background: 'teal', noise: { type: 'gaussian', mean: 120, sigma: 40 } } }).jpeg().toBuffer();
    expect((await sharp(bytes.subarray(0, Math.floor(bytes.length / 2))).metadata()).format).toBe('jpeg');
    const path = join(inbox, 'paused.jpg');
    await writeFile(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await new Promise((r) => setTimeout(r, 550)); // > stabilityMs (250): chokidar reports the half file
    await writeFile(path, bytes.subarray(Math.floor(bytes.length / 2)), { flag: 'a' });
    await waitFor(async () => (await results()).includes('paused.jpg.json') || (await listing('failed')).includes('paused.jpg'), 'paused.jpg settled');
    expect(await listing('failed')).toEqual([]);
    expect(await results()).toContain('paused.jpg.json');
  });

  it('sends corrupt, non-image, empty and oversized files to failed/ with a reason, and carries on', async () => {
    const good = await imageBytes(5, 'png');
    await writeFile(join(inbox, 'truncated.png'), good.subarray(0, Math.floor(good.length / 2)));
    await writeFile(join(inbox, 'notes.jpg'), 'this is not an image at all\n');
    await writeFile(join(inbox, 'empty.png'), '');
    await writeFile(join(inbox, 'huge.png'), await sharp({ create: { width: 1500, height: 1000, channels: 3, background: 'red' } }).png().toBuffer());
    await writeFile(join(inbox, 'ignored.txt'), 'not watched: wrong extension');
    await dropImages(inbox, 1, 500);
    const bad = ['empty.png', 'huge.png', 'notes.jpg', 'truncated.png'];
    await waitFor(async () => {
      const failed = await listing('failed');
      return bad.every((b) => failed.includes(b) && failed.includes(`${b}.error.json`));
    }, 'four failures', 40_000);
    const reasons: Record<string, string> = {};
    for (const b of bad) {
      const rec = JSON.parse(await readFile(await hashedName(join(inbox, 'failed'), `${b}.error.json`), 'utf8'));
      expect(rec.message).toContain(b);
      reasons[b] = rec.reason;
    }
    expect(reasons).toEqual({ 'empty.png': 'empty', 'huge.png': 'too-large', 'notes.jpg': 'unsupported', 'truncated.png': 'corrupt' });
    await waitFor(async () => (await results()).includes('img-500.png.json'), 'the good file after the bad ones');
    for (const b of bad) expect(await results()).not.toContain(`${b}.json`);
    expect(await readdir(inbox)).toContain('ignored.txt');
    const failedMsgs = messages.filter((m) => m.type === 'caption.failed').map((m) => m.type === 'caption.failed' && unhashed(m.id));
    expect(failedMsgs.sort()).toEqual(bad);
  });

  it('captions an uploaded image through the same batcher (POST /caption)', async () => {
    const res = await fetch(`${url}/caption`, { method: 'POST', body: new Uint8Array(await imageBytes(3, 'jpeg')), headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'image/jpeg' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { caption: string; source: string; attention: number[][] };
    expect(body.source).toBe('http');
    expect(typeof body.caption).toBe('string');
    expect(body.attention.length).toBeGreaterThan(0);
  });

  it('answers 415, 400 and 413 for bad uploads', async () => {
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const text = await fetch(`${url}/caption`, { method: 'POST', body: 'hello', headers: { ...auth, 'Content-Type': 'text/plain' } });
    expect(text.status).toBe(415);
    const sniffed = await fetch(`${url}/caption`, { method: 'POST', body: 'GIF? no, plain bytes', headers: { ...auth, 'Content-Type': 'application/octet-stream' } });
    expect(sniffed.status).toBe(415);
    expect(((await sniffed.json()) as { message: string }).message).toMatch(/not a JPEG, PNG/);
    const empty = await fetch(`${url}/caption`, { method: 'POST', body: new Uint8Array(0), headers: auth });
    expect(empty.status).toBe(400);
    const png = await imageBytes(4, 'png');
    const corrupt = await fetch(`${url}/caption`, { method: 'POST', body: new Uint8Array(png.subarray(0, png.length - 20)), headers: auth });
    expect(corrupt.status).toBe(400);
    expect(((await corrupt.json()) as { error: string }).error).toBe('corrupt');
    const big = await fetch(`${url}/caption`, { method: 'POST', body: new Uint8Array(300_000).fill(1), headers: auth });
    expect(big.status).toBe(413);
    // Without Content-Length (chunked), the limit is enforced while reading.
    const chunked = await new Promise<number>((res, rej) => {
      const req = request(`${url}/caption`, { method: 'POST', headers: auth }, (r) => {
        r.resume();
        res(r.statusCode ?? 0);
      });
      req.on('error', rej);
      const chunk = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), Buffer.alloc(50_000, 7)]);
      for (let i = 0; i < 6; i++) req.write(chunk);
      req.end();
    });
    expect(chunked).toBe(413);
  });

  it('rejects missing or wrong tokens on WebSocket, /caption and /metrics; health stays open', async () => {
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${url}/caption`, { method: 'POST', body: new Uint8Array(await imageBytes(1)) })).status).toBe(401);
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
    const status = await new Promise<number>((res) => {
      const bad = new WebSocket(`${url.replace('http', 'ws')}/?token=nope`);
      bad.on('unexpected-response', (_req, r) => res(r.statusCode ?? 0));
      bad.on('open', () => res(101));
      bad.on('error', () => undefined);
    });
    expect(status).toBe(401);
    const bearer = new WebSocket(url.replace('http', 'ws'), { headers: { Authorization: `Bearer ${TOKEN}` } });
    await new Promise((res, rej) => bearer.once('open', res).once('error', rej));
    bearer.close();
  });

  it('exposes Prometheus metrics: counts, failures by reason, batch sizes, latency, tensors, backend', async () => {
    const res = await fetch(`${url}/metrics?token=${TOKEN}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const value = (re: RegExp): number => Number(re.exec(text)?.[1]);
    expect(value(/^captioner_images_out_total (\d+)/m)).toBeGreaterThanOrEqual(203);
    expect(value(/^captioner_images_failed_total\{reason="corrupt"\} (\d+)/m)).toBeGreaterThanOrEqual(2);
    expect(value(/^captioner_images_failed_total\{reason="unsupported"\} (\d+)/m)).toBe(1);
    expect(text).toMatch(new RegExp(`^captioner_backend_info\\{backend="${SUITE_BACKEND}",tf_backend="${SUITE_TF_BACKEND}",gpu="false"\\} 1$`, 'm'));
    expect(value(/^captioner_batch_size_count (\d+)/m)).toBeGreaterThan(0);
    expect(text).toMatch(/^captioner_stage_latency_seconds_bucket\{le="[^"]+",stage="model"\} \d+/m);
    expect(text).toMatch(/^captioner_queue_depth\{stage="source"\} \d+/m);
    expect(text).toMatch(/^captioner_tfjs_tensors \d+/m);
    expect(value(/^captioner_workers (\d+)/m)).toBe(2);
    expect(text).toMatch(/^captioner_process_resident_memory_bytes \d+/m);
    await waitFor(() => messages.some((m) => m.type === 'stats' && m.imagesOut >= 200), 'a stats message');
  });

  it('shuts down gracefully: in-flight work finishes, clients are closed, replicas disposed', async () => {
    const before = service.source.stats().claimed;
    const names = await dropImages(inbox, 6, 600);
    await waitFor(() => service.source.stats().claimed >= before + 6, 'the files to be claimed', 20_000);
    const closed = new Promise<number>((res) => ws.once('close', (code) => res(code)));
    await service.stop();
    expect(await closed).toBe(1001);
    for (const n of names) expect(await results()).toContain(`${n}.json`);
    expect(await listing('.processing')).toEqual([]);
    expect(service.pool.size).toBe(0);
  });
});
