import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attentionFigureSize, renderAttentionFigure } from '../../src/render/attention-figure.js';

const GRID = 14;
let dir: string;
let imagePath: string;

/** A scene like the synthetic data: a red circle top-left, a blue square bottom-right, on grey. */
async function sceneImage(size: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">
    <rect width="100%" height="100%" fill="#808080"/>
    <circle cx="${size * 0.25}" cy="${size * 0.25}" r="${size * 0.15}" fill="#d02020"/>
    <rect x="${size * 0.6}" y="${size * 0.6}" width="${size * 0.3}" height="${size * 0.3}" fill="#2040d0"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** A softmax-like map concentrated around one cell. */
function peakMap(row: number, col: number, spread = 1.2): Float32Array {
  const m = new Float32Array(GRID * GRID);
  let sum = 0;
  for (let r = 0; r < GRID; r++) {
    for (let c = 0; c < GRID; c++) sum += m[r * GRID + c] = Math.exp(-((r - row) ** 2 + (c - col) ** 2) / (2 * spread ** 2));
  }
  return m.map((v) => v / sum);
}

const uniform = new Float32Array(GRID * GRID).fill(1 / (GRID * GRID));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attention-figure-'));
  imagePath = join(dir, 'scene.png');
  await writeFile(imagePath, await sceneImage(256));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('renderAttentionFigure', () => {
  it('writes a PNG of columns x rows panels', async () => {
    const words = ['<start>', 'a', 'red', 'circle', 'and', 'a', 'blue', 'square', '<end>'];
    const maps = [uniform, peakMap(7, 7, 4), peakMap(3, 3), peakMap(3, 3), peakMap(7, 7, 4), peakMap(10, 10, 3), peakMap(10, 10), peakMap(10, 10), peakMap(7, 7, 5)];
    const png = await renderAttentionFigure({ image: imagePath, words, maps, gridSize: GRID });
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect({ width: meta.width, height: meta.height }).toEqual(attentionFigureSize(9, 336, 5));
    expect(meta.width).toBeGreaterThanOrEqual(5 * 336);
    expect(meta.height).toBeGreaterThanOrEqual(2 * 336);
    // Kept for looking at: the example figure of the report.
    await writeFile(join(tmpdir(), 'attention-figure-example.png'), png);
  });

  it('makes the top-left of a panel brighter than its bottom-right when the map peaks in the top-left cell', async () => {
    const P = 96;
    const image = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#606060' } }).png().toBuffer();
    // A 3x3 grid so the top-left cell (32 px) reaches past the word's label box.
    const topLeft = new Float32Array(9).fill(0.01);
    topLeft[0] = 0.92;
    const flat = new Float32Array(9).fill(1 / 9);
    const png = await renderAttentionFigure({ image, words: ['<start>', 'x', '<end>'], maps: [flat, topLeft, flat], gridSize: 3, panelSize: P, columns: 3 });
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const gap = (info.width - 3 * P) / 2;
    const mean = (x0: number, y0: number, n: number): number => {
      let s = 0;
      for (let y = y0; y < y0 + n; y++) for (let x = x0; x < x0 + n; x++) s += data[(y * info.width + x) * 3]!;
      return s / (n * n);
    };
    const left = P + gap; // second panel; its label covers the top 16 rows and 12 columns
    const bright = mean(left + 18, 18, 8);
    const dark = mean(left + P - 12, P - 12, 8);
    expect(bright).toBeGreaterThan(dark + 100);
    // <start> is drawn at opacity 0: the plain grey image (0x60) away from its label.
    expect(mean(P - 12, P - 12, 8)).toBeCloseTo(0x60, 0);
  });

  it('honours a smaller panel size and the column count', async () => {
    const png = await renderAttentionFigure({ image: imagePath, words: ['<start>', 'a', 'b', '<end>'], maps: [uniform, uniform, uniform, uniform], gridSize: GRID, panelSize: 64, columns: 2 });
    const meta = await sharp(png).metadata();
    expect({ width: meta.width, height: meta.height }).toEqual(attentionFigureSize(4, 64, 2));
  });

  it('throws a clear error when maps and words differ in number or a map has the wrong size', async () => {
    await expect(renderAttentionFigure({ image: imagePath, words: ['<start>', 'a', '<end>'], maps: [uniform, uniform], gridSize: GRID })).rejects.toThrow(
      /3 words but 2 attention maps; pass exactly one map per word/,
    );
    await expect(renderAttentionFigure({ image: imagePath, words: ['<start>', 'a'], maps: [uniform, new Float32Array(9)], gridSize: GRID })).rejects.toThrow(
      /map 1 \("a"\) has 9 values, expected gridSize\^2 = 196/,
    );
    await expect(renderAttentionFigure({ image: join(dir, 'missing.png'), words: ['a'], maps: [uniform], gridSize: GRID })).rejects.toThrow(/cannot read .*missing\.png/);
  });
});
