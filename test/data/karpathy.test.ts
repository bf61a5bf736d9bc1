import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../../src/data/errors.js';
import { loadKarpathy, splitOf } from '../../src/data/karpathy.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/data/', import.meta.url));
const FLICKR = join(FIXTURES, 'dataset_flickr_tiny.json');
const COCO = join(FIXTURES, 'dataset_coco_tiny.json');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'karpathy-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function datasetError(json: string): Promise<DatasetError> {
  const file = join(dir, `bad-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, json);
  const err = await loadKarpathy(file, dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DatasetError);
  expect((err as DatasetError).file).toBe(file);
  expect((err as DatasetError).message).toContain(file);
  return err as DatasetError;
}

describe('loadKarpathy (Flickr form)', () => {
  it('resolves imageDir/filename, keeps splits, drops long captions and skips captionless images', async () => {
    const ds = await loadKarpathy(FLICKR, 'imgs', { maxLen: 8 });
    expect(ds.name).toBe('flickr8k');
    expect(ds.jsonPath).toBe(FLICKR);
    expect(ds.images.map((i) => i.id)).toEqual(['0', '1', '3']);
    expect(ds.skippedImages).toBe(1);
    expect(ds.images[0]?.path).toBe(resolve('imgs', '1000.jpg'));
    expect(splitOf(ds, 'train').map((i) => i.id)).toEqual(['0']);
    expect(splitOf(ds, 'val').map((i) => i.id)).toEqual(['1']);
    expect(splitOf(ds, 'test').map((i) => i.id)).toEqual(['3']);
    for (const img of ds.images) expect(img.captions).toHaveLength(5);
  });

  it('samples 5 distinct captions out of 7, and tops up with replacement when fewer, reproducibly', async () => {
    const a = await loadKarpathy(FLICKR, 'imgs', { maxLen: 8, seed: 1 });
    const b = await loadKarpathy(FLICKR, 'imgs', { maxLen: 8, seed: 1 });
    expect(a.images).toEqual(b.images);
    const seven = a.images[0]!.captions.map((c) => c.join(' '));
    expect(new Set(seven).size).toBe(5);
    // Image 1 keeps only its short caption (the other has 9 tokens): repeated five times.
    expect(a.images[1]!.captions).toEqual(Array(5).fill(['two', 'girls', 'smile']));
    expect(a.images[2]!.captions).toEqual(Array(5).fill(['a', 'cat']));
    // Another seed draws another subset of the seven (some seed among a few must differ).
    const others = await Promise.all([2, 3, 4, 5].map((seed) => loadKarpathy(FLICKR, 'imgs', { maxLen: 8, seed })));
    expect(others.some((o) => o.images[0]!.captions.join('|') !== a.images[0]!.captions.join('|'))).toBe(true);
  });

  it("keeps each caption's annotator beside it when every sentence names one, through sampling and long-caption drops", async () => {
    const file = join(dir, 'annotated.json');
    const words = ['zero', 'one', 'two', 'three', 'four', 'five', 'six'];
    const sentences = words.map((w, j) => ({ tokens: j === 3 ? Array<string>(9).fill(w) : [w], annotator: j }));
    const images = [
      { filename: 'a.png', split: 'train', sentences },
      { filename: 'b.png', split: 'train', sentences: [{ tokens: ['x'], annotator: 1 }, { tokens: ['y'] }] },
    ];
    await writeFile(file, JSON.stringify({ dataset: 'annotated', images }));
    const [a, b] = (await loadKarpathy(file, dir, { maxLen: 8, seed: 3 })).images;
    expect(a!.annotators).toHaveLength(5);
    a!.captions.forEach((c, k) => expect(a!.annotators![k]).toBe(words.indexOf(c[0]!)));
    expect(a!.annotators).not.toContain(3); // its caption is longer than maxLen
    expect(b!.annotators).toBeUndefined(); // one sentence names no annotator
    const bad = { dataset: 'x', images: [{ filename: 'a.png', split: 'train', sentences: [{ tokens: ['a'], annotator: -1 }] }] };
    expect((await datasetError(JSON.stringify(bad))).message).toMatch(/images\[0\]: sentences\[0\]\.annotator must be an integer/);
  });

  it('with the default maxLen of 50 keeps every caption', async () => {
    const ds = await loadKarpathy(FLICKR, 'imgs');
    expect(ds.skippedImages).toBe(0);
    expect(ds.images).toHaveLength(4);
  });
});

describe('loadKarpathy (COCO form)', () => {
  it('uses imageDir/filepath/filename and cocoid, and merges restval into train', async () => {
    const ds = await loadKarpathy(COCO, '/data/coco');
    expect(ds.name).toBe('coco');
    expect(ds.images[0]).toMatchObject({ id: '391895', path: '/data/coco/val2014/COCO_val2014_000000391895.jpg', split: 'test' });
    expect(splitOf(ds, 'train').map((i) => i.id)).toEqual(['522418', '318556']);
    expect(splitOf(ds, 'val').map((i) => i.id)).toEqual(['116100']);
  });
});

describe('loadKarpathy errors', () => {
  it('names the file for a missing file and for invalid JSON', async () => {
    const missing = join(dir, 'nope.json');
    await expect(loadKarpathy(missing, dir)).rejects.toThrow(DatasetError);
    await expect(loadKarpathy(missing, dir)).rejects.toThrow(missing);
    const e = await datasetError('{ "images": [ ');
    expect(e.message).toMatch(/not valid JSON/);
    expect((await datasetError('[1, 2]')).message).toMatch(/Karpathy split file/);
  });

  it('names the image index for malformed images', async () => {
    const ok = { filename: 'a.jpg', split: 'train', sentences: [{ tokens: ['a'] }] };
    const bad = (img: object): string => JSON.stringify({ dataset: 'x', images: [ok, img] });
    expect((await datasetError(bad({ split: 'train', sentences: [] }))).message).toMatch(/images\[1\]: "filename"/);
    expect((await datasetError(bad({ ...ok, split: 'dev' }))).message).toMatch(/images\[1\]: "split" must be one of/);
    expect((await datasetError(bad({ ...ok, sentences: [{ tokens: 'a b' }] }))).message).toMatch(/images\[1\]: sentences\[0\]\.tokens/);
    expect((await datasetError(bad({ ...ok, sentences: undefined }))).message).toMatch(/images\[1\]: "sentences"/);
    expect((await datasetError(bad({ ...ok, objects: [{ shape: 'circle' }] }))).message).toMatch(/images\[1\]: objects\[0\]/);
  });

  it('rejects bad options with RangeError', async () => {
    await expect(loadKarpathy(FLICKR, dir, { maxLen: 0 })).rejects.toThrow(RangeError);
    await expect(loadKarpathy(FLICKR, dir, { captionsPerImage: 1.5 })).rejects.toThrow(RangeError);
  });
});
