/**
 * A stand-in feed server for developing and testing the dashboard without the caption service:
 * serves dashboards/dist over HTTP and pushes synthetic protocol messages over a WebSocket on the same
 * port (any path, like the real feed server). Run it by hand:
 *
 *   npx vite build --config dashboards/vite.config.ts && npx tsx test/dashboards/harness.ts [--rate 300] [--port 8099]
 *
 * and open the printed URL. The end-to-end test starts it in-process.
 */
import { createServer, type Server } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { WebSocket, WebSocketServer } from 'ws';
import {
  PROTOCOL_VERSION,
  quantiseAttention,
  type CaptionMessage,
  type FeedMessage,
  type StatsMessage,
  type TrainStepMessage,
  type TrainValidationMessage,
} from '../../src/protocol/messages.js';

/** The built dashboard this repo serves. */
export const DIST_DIR = fileURLToPath(new URL('../../dashboards/dist', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** A running harness. */
export interface Harness {
  url: string;
  port: number;
  /** Sends a message to every connected client. */
  broadcast(msg: FeedMessage): void;
  /** Connected WebSocket clients. */
  clientCount(): number;
  /** Drops every client connection (simulates a server restart without freeing the port). */
  dropClients(): void;
  close(): Promise<void>;
}

/** Starts the static + WebSocket server on `port` (0 = any free port). */
export async function startHarness(opts: { port?: number; distDir?: string; token?: string; mode?: string } = {}): Promise<Harness> {
  const root = resolve(opts.distDir ?? DIST_DIR);
  const http: Server = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const file = normalize(join(root, path === '/' ? 'index.html' : decodeURIComponent(path).slice(1)));
      const info = file.startsWith(root + sep) ? await stat(file).catch(() => undefined) : undefined;
      if (!info?.isFile()) {
        res.writeHead(404).end(`not found: ${path} (build the dashboard first)`);
        return;
      }
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(await readFile(file));
    })();
  });
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token');
    if (opts.token !== undefined && token !== opts.token) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'hello', ts: Date.now(), server: 'dashboard-harness', modelId: 'synthetic-0', backend: 'none', mode: opts.mode ?? 'watch' }));
    });
  });
  await new Promise<void>((res) => http.listen(opts.port ?? 0, '127.0.0.1', res));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    broadcast(msg) {
      const text = JSON.stringify(msg);
      for (const ws of wss.clients) if (ws.readyState === WebSocket.OPEN) ws.send(text);
    },
    clientCount: () => wss.clients.size,
    dropClients() {
      for (const ws of wss.clients) ws.terminate();
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      http.closeAllConnections();
      await new Promise<void>((res) => http.close(() => res()));
    },
  };
}

const SHAPES = ['circle', 'square', 'triangle'] as const;
const COLOURS = { red: '#d33', green: '#3a3', blue: '#36c', yellow: '#eb3' } as const;
type Colour = keyof typeof COLOURS;

/** A synthetic scene: one coloured shape at a grid position, as JPEG bytes and as a data URL. */
export async function syntheticImage(i: number, size = 128): Promise<{ jpeg: Buffer; dataUrl: string; shape: string; colour: Colour; cx: number; cy: number }> {
  const shape = SHAPES[i % SHAPES.length]!;
  const colour = (Object.keys(COLOURS) as Colour[])[Math.floor(i / 3) % 4]!;
  const cx = 0.25 + 0.5 * (((i * 7) % 5) / 4);
  const cy = 0.25 + 0.5 * (((i * 3) % 4) / 3);
  const r = size * 0.16;
  const x = cx * size;
  const y = cy * size;
  const fill = COLOURS[colour];
  const el =
    shape === 'circle'
      ? `<circle cx="${x}" cy="${y}" r="${r}" fill="${fill}"/>`
      : shape === 'square'
        ? `<rect x="${x - r}" y="${y - r}" width="${2 * r}" height="${2 * r}" fill="${fill}"/>`
        : `<polygon points="${x},${y - r} ${x + r},${y + r} ${x - r},${y + r}" fill="${fill}"/>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="#f1ece4"/><rect x="0" y="${size * 0.7}" width="${size}" height="${size * 0.3}" fill="#c9d8c5"/>${el}</svg>`;
  const jpeg = await sharp(Buffer.from(svg)).jpeg({ quality: 80 }).toBuffer();
  return { jpeg, dataUrl: `data:image/jpeg;base64,${jpeg.toString('base64')}`, shape, colour, cx, cy };
}

/** Attention maps (one per word + <end>) peaking on the object for its words, diffuse elsewhere. */
function syntheticMaps(words: string[], hot: Set<string>, cx: number, cy: number, grid: number): number[][] {
  return [...words, '<end>'].map((w, k) => {
    const sharpness = hot.has(w) ? 0.08 : 0.3;
    const ox = hot.has(w) ? cx : 0.5 + 0.3 * Math.sin(k);
    const oy = hot.has(w) ? cy : 0.5 + 0.3 * Math.cos(k);
    const map: number[] = [];
    for (let r = 0; r < grid; r++) {
      for (let c = 0; c < grid; c++) {
        const dx = (c + 0.5) / grid - ox;
        const dy = (r + 0.5) / grid - oy;
        map.push(Math.exp(-(dx * dx + dy * dy) / (2 * sharpness * sharpness)));
      }
    }
    const sum = map.reduce((a, b) => a + b, 0);
    return map.map((v) => v / sum);
  });
}

/** A caption message for synthetic image i. */
export async function syntheticCaption(i: number, grid = 7): Promise<CaptionMessage> {
  const img = await syntheticImage(i);
  const words = ['a', img.colour, img.shape, 'on', 'the', 'grass'];
  const maps = syntheticMaps(words, new Set([img.colour, img.shape]), img.cx, img.cy, grid);
  const decode = 2 + (i % 5);
  const queue = (i * 13) % 40;
  const encode = 18 + (i % 7);
  const beam = 35 + ((i * 5) % 20);
  return {
    v: PROTOCOL_VERSION,
    type: 'caption',
    ts: Date.now(),
    id: `img-${String(i).padStart(4, '0')}`,
    source: `/data/inbox/img-${String(i).padStart(4, '0')}.jpg`,
    caption: words.join(' '),
    words,
    score: -2.1 - (i % 10) / 10,
    finished: true,
    alternatives: [
      { caption: words.join(' '), score: -2.1 - (i % 10) / 10 },
      { caption: `a ${img.shape} on the grass`, score: -3.4 },
      { caption: `a ${img.colour} ${img.shape}`, score: -4.0 },
    ],
    gridSize: grid,
    attention: quantiseAttention(maps),
    thumbnail: img.dataUrl,
    timings: { decode, queue, encode, 'decode-beam': beam, total: decode + queue + encode + beam },
    modelId: 'synthetic-0',
  };
}

/** A stats message at tick t. */
export function syntheticStats(t: number): StatsMessage {
  const wave = Math.sin(t / 6);
  return {
    v: PROTOCOL_VERSION,
    type: 'stats',
    ts: Date.now(),
    backend: 'wasm',
    imagesIn: 40 * t,
    imagesOut: 40 * t - 3,
    imagesFailed: { corrupt: Math.floor(t / 7), unsupported: Math.floor(t / 15), 'too-large': t > 20 ? 1 : 0 },
    throughput: 38 + 6 * wave,
    queueDepth: Math.max(0, Math.round(12 + 10 * wave)),
    inFlight: 8,
    batchSizes: [8, 8, 6, 8, 4 + (t % 5)],
    latencyMs: { p50: 120 + 20 * wave, p95: 260 + 40 * wave, p99: 340 + 60 * wave },
    workers: 2,
    tensors: 312,
  };
}

/** A train.step message for global step s (stepsPerEpoch steps per epoch, counted from 1 within each). */
export function syntheticStep(s: number, stepsPerEpoch = 50): TrainStepMessage {
  const ce = 4.5 * Math.exp(-s / 300) + 1.2 + 0.15 * Math.sin(s * 1.7);
  const att = 0.3 * Math.exp(-s / 200) + 0.05;
  return {
    v: PROTOCOL_VERSION,
    type: 'train.step',
    ts: Date.now(),
    epoch: Math.floor(s / stepsPerEpoch) + 1,
    step: (s % stepsPerEpoch) + 1,
    loss: ce + att,
    crossEntropy: ce,
    attentionPenalty: att,
    learningRate: 4e-4 * 0.8 ** Math.floor(s / 400),
    examplesPerSec: 95 + 10 * Math.sin(s / 20),
    etaSec: Math.max(0, 1200 - s * 1.2),
  };
}

/** A train.validation message for `epoch` with probe images. */
export async function syntheticValidation(epoch: number, probes = 4): Promise<TrainValidationMessage> {
  const b4 = Math.min(0.3, 0.03 * epoch);
  const items = [];
  for (let i = 0; i < probes; i++) {
    const c = await syntheticCaption(100 + i);
    items.push({
      id: `probe-${i}`,
      thumbnail: c.thumbnail,
      caption: epoch < 2 ? 'a a a on the' : c.caption,
      words: epoch < 2 ? ['a', 'a', 'a', 'on', 'the'] : c.words,
      gridSize: c.gridSize,
      attention: epoch < 2 ? quantiseAttention(syntheticMaps(['a', 'a', 'a', 'on', 'the'], new Set(), 0.5, 0.5, c.gridSize)) : c.attention,
      references: [c.caption, `there is a ${c.words[1]} ${c.words[2]}`, `a ${c.words[2]} in a field`],
    });
  }
  return {
    v: PROTOCOL_VERSION,
    type: 'train.validation',
    ts: Date.now(),
    epoch,
    bleu: [b4 * 2.6, b4 * 1.9, b4 * 1.35, b4],
    bestBleu4: b4,
    epochsSinceImprovement: 0,
    learningRate: 4e-4,
    improved: true,
    probes: items,
  };
}

/** Pushes a mixed synthetic feed at roughly `captionsPerSec` plus 1 Hz stats and steady training steps. */
export function runSyntheticFeed(h: Harness, opts: { captionsPerSec?: number; stepsPerSec?: number } = {}): () => void {
  const captions: CaptionMessage[] = [];
  let i = 0;
  let t = 0;
  let s = 0;
  let stopped = false;
  void (async () => {
    // Pre-render a pool of captions so high rates cost only JSON.stringify.
    for (let k = 0; k < 24 && !stopped; k++) captions.push(await syntheticCaption(k));
  })();
  const perTick = (opts.captionsPerSec ?? 4) / 20;
  let acc = 0;
  const capTimer = setInterval(() => {
    acc += perTick;
    while (acc >= 1 && captions.length > 0) {
      acc--;
      const c = captions[i % captions.length]!;
      h.broadcast({ ...c, ts: Date.now(), id: `img-${i}` });
      i++;
    }
  }, 50);
  const reasons = ['corrupt', 'unsupported', 'too-large'];
  const statsTimer = setInterval(() => {
    h.broadcast(syntheticStats(t++));
    if (t % 4 === 0) {
      const reason = reasons[(t / 4) % reasons.length]!;
      h.broadcast({ v: PROTOCOL_VERSION, type: 'caption.failed', ts: Date.now(), id: `bad-${t}`, source: `/data/inbox/bad-${t}.jpg`, reason, message: `synthetic ${reason} image` });
    }
  }, 1000);
  const stepTimer = setInterval(() => {
    h.broadcast(syntheticStep(s));
    s++;
    if (s % 50 === 0) void syntheticValidation(s / 50).then((v) => h.broadcast(v));
  }, 1000 / (opts.stepsPerSec ?? 10));
  return () => {
    stopped = true;
    clearInterval(capTimer);
    clearInterval(statsTimer);
    clearInterval(stepTimer);
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string, dflt: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const h = await startHarness({ port: arg('port', 0) });
  const stop = runSyntheticFeed(h, { captionsPerSec: arg('rate', 4), stepsPerSec: arg('steps', 10) });
  console.log(`dashboard harness at ${h.url} (Ctrl-C to stop)`);
  const shutdown = (): void => {
    stop();
    void h.close().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
