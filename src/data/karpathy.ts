/**
 * Loader for Karpathy's split files (dataset_flickr8k.json, dataset_flickr30k.json,
 * dataset_coco.json) and for the project's synthetic data sets, which use the same format.
 * Caption filtering and sampling follow the reference's create_input_files.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DatasetError } from './errors.js';
import { createRng } from './rng.js';
import type { CaptionedImage, SceneObject, Split } from './types.js';

export interface KarpathyDataset {
  /** The "dataset" field of the file (flickr8k, flickr30k, coco, synthetic, ...). */
  name: string;
  jsonPath: string;
  images: CaptionedImage[];
  /** Images left out because none of their captions was at most maxLen tokens long. */
  skippedImages: number;
}

export interface LoadKarpathyOptions {
  /** Captions with more tokens than this are dropped (reference: 50). */
  maxLen?: number;
  /** Captions kept per image: sampled without replacement, or topped up with replacement (reference: 5). */
  captionsPerImage?: number;
  /** Seed of the caption sampling (default 123). */
  seed?: number;
}

const SPLITS: Record<string, Split> = { train: 'train', restval: 'train', val: 'val', test: 'test' };

/**
 * Reads a Karpathy split JSON. Image paths are imageDir/filename (Flickr) or
 * imageDir/filepath/filename (COCO), absolute. "restval" images join the train split.
 * Throws DatasetError naming the file (and the image index) for unreadable or malformed input.
 */
export async function loadKarpathy(jsonPath: string, imageDir: string, opts: LoadKarpathyOptions = {}): Promise<KarpathyDataset> {
  const { maxLen = 50, captionsPerImage = 5, seed = 123 } = opts;
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new RangeError(`loadKarpathy: maxLen must be a positive integer, got ${maxLen}`);
  if (!Number.isInteger(captionsPerImage) || captionsPerImage < 1) {
    throw new RangeError(`loadKarpathy: captionsPerImage must be a positive integer, got ${captionsPerImage}`);
  }
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (err) {
    throw new DatasetError(jsonPath, `cannot read the data set file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DatasetError(jsonPath, `not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(json) || !Array.isArray(json.images)) {
    throw new DatasetError(jsonPath, 'expected a Karpathy split file: { "dataset": string, "images": [...] }');
  }
  const name = typeof json.dataset === 'string' ? json.dataset : 'unknown';
  const rng = createRng(seed);
  const root = resolve(imageDir);
  const images: CaptionedImage[] = [];
  let skippedImages = 0;
  json.images.forEach((raw: unknown, i: number) => {
    const fail = (what: string): never => {
      throw new DatasetError(jsonPath, `images[${i}]: ${what}`);
    };
    if (!isObject(raw)) fail('is not an object');
    const img = raw as Record<string, unknown>;
    if (typeof img.filename !== 'string' || img.filename === '') fail('"filename" must be a non-empty string');
    if (img.filepath !== undefined && typeof img.filepath !== 'string') fail('"filepath" must be a string when present');
    const split = typeof img.split === 'string' ? SPLITS[img.split] : undefined;
    if (!split) fail(`"split" must be one of train, val, test, restval (got ${JSON.stringify(img.split)})`);
    if (!Array.isArray(img.sentences)) fail('"sentences" must be an array');
    const captions: string[][] = [];
    const annotators: Array<number | undefined> = [];
    (img.sentences as unknown[]).forEach((s, j) => {
      if (!isObject(s) || !Array.isArray(s.tokens) || !s.tokens.every((t: unknown) => typeof t === 'string')) {
        fail(`sentences[${j}].tokens must be an array of strings`);
      }
      const annotator = (s as { annotator?: unknown }).annotator;
      if (annotator !== undefined && !(Number.isInteger(annotator) && (annotator as number) >= 0)) fail(`sentences[${j}].annotator must be an integer >= 0 when present`);
      const tokens = (s as { tokens: string[] }).tokens;
      if (tokens.length > maxLen) return;
      captions.push(tokens.map((t) => t.toLowerCase()));
      annotators.push(annotator as number | undefined);
    });
    const idValue = img.cocoid ?? img.imgid ?? i;
    if (typeof idValue !== 'number' && typeof idValue !== 'string') fail('"cocoid"/"imgid" must be a number or string');
    if (captions.length === 0) {
      skippedImages++;
      return;
    }
    const picked = sampleCaptions(captions.length, captionsPerImage, rng);
    const entry: CaptionedImage = {
      id: String(idValue),
      path: resolve(root, (img.filepath as string | undefined) ?? '', img.filename as string),
      split: split as Split,
      captions: picked.map((k) => captions[k]!),
    };
    // Kept only when every sentence names its annotator, so annotators[k] always belongs to captions[k].
    if (annotators.every((a) => a !== undefined)) entry.annotators = picked.map((k) => annotators[k]!);
    if (img.objects !== undefined) entry.objects = checkObjects(img.objects, fail);
    if (typeof img.width === 'number') entry.width = img.width;
    if (typeof img.height === 'number') entry.height = img.height;
    images.push(entry);
  });
  return { name, jsonPath, images, skippedImages };
}

/** The images of one split, in file order. */
export function splitOf(ds: KarpathyDataset, split: Split): CaptionedImage[] {
  return ds.images.filter((img) => img.split === split);
}

/**
 * The indices of the captions kept, as the reference picks them: with fewer captions than k, all of
 * them plus random picks with replacement; otherwise k distinct ones sampled at random (partial
 * Fisher-Yates, which keeps the draw order).
 */
function sampleCaptions(n: number, k: number, rng: () => number): number[] {
  if (n < k) {
    const out = Array.from({ length: n }, (_, i) => i);
    while (out.length < k) out.push(Math.floor(rng() * n));
    return out;
  }
  const pool = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng() * (pool.length - i));
    const tmp = pool[i]!;
    pool[i] = pool[j]!;
    pool[j] = tmp;
  }
  return pool.slice(0, k);
}

function checkObjects(value: unknown, fail: (what: string) => never): SceneObject[] {
  if (!Array.isArray(value)) fail('"objects" must be an array');
  return (value as unknown[]).map((o, k) => {
    const box = isObject(o) ? o.box : undefined;
    if (
      !isObject(o) ||
      typeof o.shape !== 'string' ||
      typeof o.color !== 'string' ||
      typeof o.size !== 'string' ||
      !isObject(box) ||
      !['x', 'y', 'w', 'h'].every((key) => typeof box[key] === 'number')
    ) {
      fail(`objects[${k}] must be { shape, color, size: string; box: { x, y, w, h: number } }`);
    }
    return o as unknown as SceneObject;
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
