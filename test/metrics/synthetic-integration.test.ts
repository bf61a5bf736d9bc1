import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSynthetic, objectMatchesWord, wordClass, type SyntheticImageEntry } from '../../src/data/index.js';
import { attentionHitRate, type AttentionSample } from '../../src/metrics/attention-hit.js';
import { scoreFiles } from '../../src/metrics/score-file.js';
import type { SceneObject } from '../../src/data/types.js';

// Real synthetic scenes from the data layer: metrics must agree with its objects and Karpathy JSON.
const GRID = 16;
let dir: string;
let jsonPath: string;
let images: SyntheticImageEntry[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'metrics-synthetic-'));
  ({ jsonPath } = await generateSynthetic({ outDir: dir, count: 30, seed: 11, imageSize: 64 }));
  images = (JSON.parse(await readFile(jsonPath, 'utf8')) as { images: SyntheticImageEntry[] }).images;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A map peaked on the cell holding (x, y) of a 64 px image; mirrored puts it at the opposite cell. */
function mapAt(x: number, y: number, mirrored: boolean): Float32Array {
  let row = Math.min(GRID - 1, Math.floor((y / 64) * GRID));
  let col = Math.min(GRID - 1, Math.floor((x / 64) * GRID));
  if (mirrored) [row, col] = [GRID - 1 - row, GRID - 1 - col];
  const m = new Float32Array(GRID * GRID).fill(0.1 / (GRID * GRID));
  m[row * GRID + col] = 0.9;
  return m;
}

/** Oracle attention: each classified word looks at the centre of the first object it names. */
function samples(mirrored: boolean): AttentionSample<SceneObject>[] {
  return images.map((img) => {
    const words = img.sentences[0]!.tokens;
    const maps = words.map((w) => {
      const obj = wordClass(w) ? img.objects.find((o) => objectMatchesWord(w, o)) : undefined;
      return obj ? mapAt(obj.box.x + obj.box.w / 2, obj.box.y + obj.box.h / 2, mirrored) : mapAt(32, 32, false);
    });
    return { words, maps, gridSize: GRID, imageSize: { width: img.width, height: img.height }, objects: img.objects };
  });
}

describe('metrics on the synthetic data set', () => {
  it('gives an oracle attention a hit rate of 1 over shapes and colours, and a mirrored one less', () => {
    const oracle = attentionHitRate(samples(false), wordClass, objectMatchesWord);
    expect(oracle.total).toBeGreaterThan(30);
    expect(oracle.noMatchingObject).toBe(0);
    expect(oracle.rate).toBe(1);
    expect(Object.keys(oracle.perClass).sort()).toEqual(['color', 'shape']);
    const mirrored = attentionHitRate(samples(true), wordClass, objectMatchesWord);
    expect(mirrored.total).toBe(oracle.total);
    expect(mirrored.rate).toBeLessThan(0.8);
  });

  it('scores hypotheses against the data set file with --split, by id or file name', async () => {
    const test = images.filter((img) => img.split === 'test');
    expect(test.length).toBeGreaterThan(0);
    // The hypothesis is the first reference itself: it matches one reference exactly. BLEU-4 is still
    // below 1 when a caption has fewer than 4 words: NLTK counts a 4-gram denominator of 1 for it.
    const short = test.filter((img) => img.sentences[0]!.tokens.length < 4).length;
    const byId = Object.fromEntries(test.map((img) => [String(img.imgid), img.sentences[0]!.raw]));
    const hyps = join(dir, 'hyps.json');
    await writeFile(hyps, JSON.stringify(byId));
    const r = await scoreFiles({ hyps, refs: jsonPath, split: 'test' });
    expect(r.count).toBe(test.length);
    expect(r.bleu1).toBe(1);
    if (short === 0) expect(r.bleu4).toBeCloseTo(1, 12);
    else expect(r.bleu4).toBeLessThan(1);
    const byName = join(dir, 'hyps.jsonl');
    await writeFile(byName, test.map((img) => JSON.stringify({ id: img.filename, caption: img.sentences[1]!.raw })).join('\n'));
    const r2 = await scoreFiles({ hyps: byName, refs: jsonPath, split: 'test' });
    expect(r2.count).toBe(test.length);
    expect(r2.bleu1).toBe(1);
    await expect(scoreFiles({ hyps, refs: jsonPath })).rejects.toThrow(/pass --split/);
  });
});
