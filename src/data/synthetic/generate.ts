/**
 * Writes a synthetic captioning data set: PNG scenes plus dataset.json in Karpathy format, with the
 * objects of every scene so captions can be checked for content. Deterministic: one seed gives the
 * same bytes for every file.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../io/write-file-atomic.js';
import { createRng, shuffle } from '../rng.js';
import type { SceneObject, Split } from '../types.js';
import { generateCaptions } from './captions.js';
import { renderScenePng } from './render.js';
import { sampleScene } from './scene.js';

export interface GenerateSyntheticOptions {
  /** Directory to write into (created if missing): dataset.json and images/. */
  outDir: string;
  /** Number of images. */
  count: number;
  seed: number;
  /** Side of the square images in pixels (default 64). */
  imageSize?: number;
  /** Images rendered at the same time (default 4; sharp uses its own thread pool underneath). */
  concurrency?: number;
}

export interface SyntheticDataset {
  jsonPath: string;
  imageDir: string;
  count: number;
}

/** One entry of dataset.json: Karpathy's fields plus the scene's objects and size. */
export interface SyntheticImageEntry {
  filename: string;
  imgid: number;
  split: Split;
  sentids: number[];
  /** annotator: which of the five annotator styles wrote the sentence (captions.ts STYLES). */
  sentences: Array<{ tokens: string[]; raw: string; imgid: number; sentid: number; annotator: number }>;
  objects: SceneObject[];
  width: number;
  height: number;
}

/** Bumped whenever the same seed would give different data. */
export const SYNTHETIC_FORMAT_VERSION = 1;

/** Generates count scenes and their captions; val and test take 10% each, chosen by the seed. */
export async function generateSynthetic(opts: GenerateSyntheticOptions): Promise<SyntheticDataset> {
  const { outDir, count, seed, imageSize = 64, concurrency = 4 } = opts;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`generateSynthetic: count must be a positive integer, got ${count}`);
  if (!Number.isInteger(imageSize) || imageSize < 32) {
    throw new RangeError(`generateSynthetic: imageSize must be an integer >= 32 (shapes become unreadable below), got ${imageSize}`);
  }
  if (!Number.isFinite(seed)) throw new RangeError(`generateSynthetic: seed must be a finite number, got ${seed}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`generateSynthetic: concurrency must be a positive integer, got ${concurrency}`);

  const root = resolve(outDir);
  const imageDir = join(root, 'images');
  await mkdir(imageDir, { recursive: true });
  const splits = assignSplits(count, createRng(seed));
  const width = String(count - 1).length;

  const entries: SyntheticImageEntry[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      // A generator per image makes the bytes independent of the order renders finish in.
      const rng = createRng(mixSeed(seed, i));
      const scene = sampleScene(rng, imageSize);
      const objects = scene.objects.map((o) => o.object);
      const captions = generateCaptions(objects, imageSize);
      const filename = `synth-${String(i).padStart(Math.max(5, width), '0')}.png`;
      await writeFileAtomic(join(imageDir, filename), await renderScenePng(scene, rng));
      entries[i] = {
        filename,
        imgid: i,
        split: splits[i] as Split,
        sentids: captions.map((_, j) => i * captions.length + j),
        sentences: captions.map((tokens, j) => ({ tokens, raw: tokens.join(' '), imgid: i, sentid: i * captions.length + j, annotator: j })),
        objects,
        width: imageSize,
        height: imageSize,
      };
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));

  const jsonPath = join(root, 'dataset.json');
  const dataset = {
    dataset: 'synthetic',
    generator: { formatVersion: SYNTHETIC_FORMAT_VERSION, seed, imageSize, count },
    images: entries,
  };
  await writeFileAtomic(jsonPath, Buffer.from(JSON.stringify(dataset)));
  return { jsonPath, imageDir, count };
}

function assignSplits(count: number, rng: () => number): Split[] {
  const nVal = Math.round(count * 0.1);
  const nTest = Math.round(count * 0.1);
  const order = shuffle(Array.from({ length: count }, (_, i) => i), rng);
  const splits: Split[] = new Array(count).fill('train');
  order.slice(0, nVal).forEach((i) => (splits[i] = 'val'));
  order.slice(nVal, nVal + nTest).forEach((i) => (splits[i] = 'test'));
  return splits;
}

function mixSeed(seed: number, i: number): number {
  let h = (Math.trunc(seed) ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

