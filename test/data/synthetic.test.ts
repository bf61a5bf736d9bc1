import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKarpathy, splitOf } from '../../src/data/karpathy.js';
import { checkCaption, generateCaptions, generateSynthetic, MAX_CAPTION_TOKENS, objectMatchesWord, wordClass, COLOR_NAMES, type SyntheticImageEntry } from '../../src/data/synthetic/index.js';
import type { SceneObject } from '../../src/data/types.js';

let dir: string;
let entries: SyntheticImageEntry[];
let jsonPath: string;
let imageDir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'synthetic-'));
  const out = await generateSynthetic({ outDir: join(dir, 'ds200'), count: 200, seed: 11 });
  ({ jsonPath, imageDir } = out);
  entries = JSON.parse(await readFile(jsonPath, 'utf8')).images;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function hashDir(d: string): Promise<string> {
  const h = createHash('sha256');
  for (const name of (await readdir(d, { recursive: true })).sort()) {
    const bytes = await readFile(join(d, name)).catch(() => undefined);
    if (bytes) h.update(name).update(bytes);
  }
  return h.digest('hex');
}

describe('generateSynthetic', () => {
  it('writes a Karpathy-format data set with objects that loadKarpathy reads, split 80/10/10', async () => {
    expect(entries).toHaveLength(200);
    const ds = await loadKarpathy(jsonPath, imageDir);
    expect(ds.name).toBe('synthetic');
    expect(ds.images).toHaveLength(200);
    expect([splitOf(ds, 'train').length, splitOf(ds, 'val').length, splitOf(ds, 'test').length]).toEqual([160, 20, 20]);
    const first = ds.images[0]!;
    expect(first.objects?.length).toBeGreaterThan(0);
    expect([first.width, first.height]).toEqual([64, 64]);
    // Each sentence names its annotator: the style that wrote it (generateCaptions' order).
    expect(entries[0]!.sentences.map((x) => x.annotator)).toEqual([0, 1, 2, 3, 4]);
    for (const im of ds.images) im.captions.forEach((c, k) => expect(c).toEqual(entries[Number(im.id)]!.sentences[im.annotators![k]!]!.tokens));
    const meta = await sharp(first.path).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 64, 64, 3]);
    expect((await readdir(imageDir)).filter((f) => f.endsWith('.png'))).toHaveLength(200);
  });

  it('every reference caption of 200 scenes checks as correct', () => {
    const failures: string[] = [];
    for (const e of entries) {
      expect(e.sentences).toHaveLength(5);
      for (const s of e.sentences) {
        const r = checkCaption(s.tokens, e.objects, 64);
        if (!r.correct) failures.push(`${e.filename} "${s.raw}": ${r.errors.join('; ')}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('keeps the vocabulary small and captions short, and makes scenes demanding', () => {
    const words = new Set(entries.flatMap((e) => e.sentences.flatMap((s) => s.tokens)));
    expect(words.size).toBeLessThan(60);
    expect(Math.max(...entries.flatMap((e) => e.sentences.map((s) => s.tokens.length)))).toBeLessThanOrEqual(MAX_CAPTION_TOKENS);
    const multi = entries.filter((e) => e.objects.length > 1);
    const sharing = multi.filter((e) =>
      e.objects.some((a, i) => e.objects.some((b, j) => i !== j && (a.color === b.color || a.shape === b.shape))),
    );
    expect(sharing.length / multi.length).toBeGreaterThan(0.4);
    const withRelation = multi.filter((e) => e.sentences.some((s) => /above|below|under|left of|right of|next to|beside/.test(s.raw)));
    expect(withRelation.length / multi.length).toBeGreaterThan(0.8);
    // Captions of one image vary.
    const varied = entries.filter((e) => new Set(e.sentences.map((s) => s.raw)).size >= 4);
    expect(varied.length / entries.length).toBeGreaterThan(0.7);
    for (const e of entries) {
      for (const o of e.objects) {
        expect(o.box.x).toBeGreaterThanOrEqual(0);
        expect(o.box.y).toBeGreaterThanOrEqual(0);
        expect(o.box.x + o.box.w).toBeLessThanOrEqual(64);
        expect(o.box.y + o.box.h).toBeLessThanOrEqual(64);
      }
    }
  });

  it('gives every scene five annotator styles, each a function of the scene that names objects left to right', () => {
    const centreX = (o: SceneObject): number => o.box.x + o.box.w / 2;
    for (const e of entries) {
      // Same objects in another order: the same five captions (no randomness a model could not learn).
      const again = generateCaptions([...e.objects].reverse(), 64);
      expect(again.map((c) => c.join(' '))).toEqual(e.sentences.map((s) => s.raw));
      // Every reference names every object: a terse caption is never a reference.
      for (const s of e.sentences) expect(checkCaption(s.tokens, e.objects, 64).mentions, s.raw).toBe(e.objects.length);
      // The first style lists every object, starting with the leftmost.
      const colours = e.sentences[0]!.tokens.filter((t) => (COLOR_NAMES as readonly string[]).includes(t));
      const order = [...e.objects].sort((a, b) => centreX(a) - centreX(b)).map((o) => o.color);
      expect(colours[0]).toBe(order[0]);
      expect(new Set(colours)).toEqual(new Set(order));
    }
    // Styles differ in wording, not only in structure.
    const firstWords = new Set(entries.flatMap((e) => e.sentences.map((s) => s.tokens[0])));
    for (const w of ['there', 'a', 'an', 'two']) expect(firstWords).toContain(w);
  });

  it('gives identical bytes for the same seed and different data for another seed', async () => {
    const a = await generateSynthetic({ outDir: join(dir, 'a'), count: 25, seed: 5, concurrency: 1 });
    const b = await generateSynthetic({ outDir: join(dir, 'b'), count: 25, seed: 5, concurrency: 6 });
    const c = await generateSynthetic({ outDir: join(dir, 'c'), count: 25, seed: 6 });
    const [ha, hb, hc] = await Promise.all([hashDir(join(dir, 'a')), hashDir(join(dir, 'b')), hashDir(join(dir, 'c'))]);
    expect(ha).toBe(hb);
    expect(hc).not.toBe(ha);
    expect(await readFile(a.jsonPath, 'utf8')).toBe(await readFile(b.jsonPath, 'utf8'));
    expect(c.count).toBe(25);
  });

  it('rejects bad options with RangeError', async () => {
    await expect(generateSynthetic({ outDir: join(dir, 'x'), count: 0, seed: 1 })).rejects.toThrow(/count must be a positive integer/);
    await expect(generateSynthetic({ outDir: join(dir, 'x'), count: 1, seed: 1, imageSize: 8 })).rejects.toThrow(/imageSize/);
  });
});

describe('checkCaption on wrong captions of generated scenes', () => {
  const alone = (e: SyntheticImageEntry, color: string, shape: string): boolean =>
    e.objects.filter((o) => o.color === color && o.shape === shape).length === 1;

  it('rejects a colour the scene does not have', () => {
    let tested = 0;
    for (const e of entries) {
      const absent = COLOR_NAMES.find((c) => !e.objects.some((o) => o.color === c))!;
      for (const s of e.sentences) {
        const i = s.tokens.findIndex((t) => wordClass(t) === 'color');
        if (i < 0) continue;
        const wrong = [...s.tokens];
        wrong[i] = absent;
        if (wrong[i - 1] === 'an' || wrong[i - 1] === 'a') wrong[i - 1] = /^[aeiou]/.test(absent) ? 'an' : 'a';
        expect(checkCaption(wrong, e.objects, 64).correct, wrong.join(' ')).toBe(false);
        tested++;
      }
    }
    expect(tested).toBeGreaterThan(500);
  });

  it('rejects the opposite relation when both phrases name one object each', () => {
    const opposite: Record<string, string[]> = { above: ['below'], below: ['above'], under: ['above'] };
    let tested = 0;
    for (const e of entries) {
      for (const s of e.sentences) {
        const i = s.tokens.findIndex((t) => t in opposite);
        if (i < 0 || s.tokens.includes('and')) continue;
        const [c1, sh1] = s.tokens.slice(i - 2, i);
        const [c2, sh2] = s.tokens.slice(-2);
        if (!alone(e, c1!, sh1!) || !alone(e, c2!, sh2!)) continue;
        const wrong = [...s.tokens.slice(0, i), ...opposite[s.tokens[i]!]!, ...s.tokens.slice(i + 1)];
        const r = checkCaption(wrong, e.objects, 64);
        expect(r.correct, wrong.join(' ')).toBe(false);
        expect(r.errors[0]).toMatch(/is false/);
        tested++;
      }
    }
    expect(tested).toBeGreaterThan(20);
  });

  it('rejects a wrong count', () => {
    let tested = 0;
    for (const e of entries) {
      for (const s of e.sentences) {
        const i = s.tokens.findIndex((t) => t === 'two' || t === 'three');
        if (i < 0) continue;
        const wrong = [...s.tokens];
        wrong[i] = s.tokens[i] === 'two' ? 'three' : 'two';
        expect(checkCaption(wrong, e.objects, 64).correct, wrong.join(' ')).toBe(false);
        tested++;
      }
    }
    expect(tested).toBeGreaterThan(30);
  });
});

describe('checkCaption on a hand-made scene', () => {
  const obj = (shape: string, color: string, size: string, x: number, y: number, w: number): SceneObject => ({
    shape,
    color,
    size,
    box: { x, y, w, h: w },
  });
  // Red circle top left, a large green star bottom right, a small green square top right.
  const scene = [obj('circle', 'red', 'small', 4, 4, 12), obj('star', 'green', 'large', 40, 40, 22), obj('square', 'green', 'small', 48, 4, 12)];
  const check = (caption: string): ReturnType<typeof checkCaption> => checkCaption(caption.split(' '), scene, 64);

  it('accepts true claims, including lenient ones a person would accept', () => {
    for (const c of [
      'a red circle',
      'there is a small red circle in the top left corner',
      'a red circle to the left of a green square',
      'a green square above a big green star',
      'two green shapes and a red circle',
      'a green star in the bottom right corner with a red circle and a green square',
      'a red circle above a green star',
      'a large green star at the bottom',
    ]) {
      expect(check(c), c).toMatchObject({ correct: true, errors: [] });
    }
    expect(checkCaption(['<start>', 'a', 'red', 'circle', '<end>', '<pad>'], scene, 64).correct).toBe(true);
    expect(checkCaption(['a', 'red', '<unk>'], scene, 64).correct).toBe(false);
  });

  it('rejects wrong colours, shapes, sizes, counts, relations and positions with a reason', () => {
    const cases: Array<[string, RegExp]> = [
      ['a blue circle', /"a blue circle": there is none/],
      ['a red star', /there is none/],
      ['a large red circle', /there is none/],
      ['two green stars', /"two green stars": the scene has 1/],
      ['three green shapes', /the scene has 2/],
      ['a red circle below a green square', /is false/],
      ['a green square to the left of a red circle', /is false/],
      ['a red circle next to a green star', /is false/],
      ['a red circle in the bottom right corner', /is false/],
      ['a red circle and a red circle', /more distinct objects/],
      ['a green square above a green square', /is false/],
    ];
    for (const [c, why] of cases) {
      const r = check(c);
      expect(r.correct, c).toBe(false);
      expect(r.errors.join(' '), c).toMatch(why);
    }
  });

  it('counts the objects a caption names, so terse correct captions can be told from complete ones', () => {
    expect(check('a red circle').mentions).toBe(1);
    expect(check('two green shapes and a red circle').mentions).toBe(3);
    expect(check('a red circle to the left of a green square').mentions).toBe(2);
    expect(check('a red circle ??').mentions).toBe(0);
  });

  it('quantifies plural phrases over all their objects', () => {
    const two = [obj('circle', 'red', 'small', 4, 4, 12), obj('circle', 'red', 'small', 44, 4, 12), obj('star', 'blue', 'large', 22, 40, 20)];
    expect(checkCaption('two red circles above a blue star'.split(' '), two, 64).correct).toBe(true);
    expect(checkCaption('a blue star below two red circles'.split(' '), two, 64).correct).toBe(true);
    expect(checkCaption('there are two red circles at the top'.split(' '), two, 64).correct).toBe(true);
    expect(checkCaption('two red circles on the left'.split(' '), two, 64).correct).toBe(false);
    const oneBelow = [two[0]!, obj('circle', 'red', 'small', 4, 48, 12), two[2]!];
    expect(checkCaption('two red circles above a blue star'.split(' '), oneBelow, 64).correct).toBe(false);
    expect(checkCaption('a red circle above a blue star'.split(' '), oneBelow, 64).correct).toBe(true);
  });

  it('treats unparseable captions as incorrect', () => {
    for (const c of ['', 'red circle', 'a red', 'a circles', 'two circle', 'there a red circle', 'a red circle above', 'a red circle is nice', 'the dog runs']) {
      const r = checkCaption(c === '' ? [] : c.split(' '), scene, 64);
      expect(r.correct, c).toBe(false);
      expect(r.errors[0], c).toMatch(/^unparseable/);
    }
  });
});

describe('wordClass and objectMatchesWord', () => {
  const star: SceneObject = { shape: 'star', color: 'green', size: 'large', box: { x: 0, y: 0, w: 10, h: 10 } };
  it('classifies shape (singular and plural) and colour words', () => {
    expect(['circle', 'crosses', 'stars'].map(wordClass)).toEqual(['shape', 'shape', 'shape']);
    expect(['red', 'pink'].map(wordClass)).toEqual(['color', 'color']);
    expect(['shapes', 'small', 'above', 'a', '<end>'].map(wordClass)).toEqual([null, null, null, null, null]);
  });
  it('matches words against an object', () => {
    expect(['star', 'stars', 'green', 'large', 'big'].every((w) => objectMatchesWord(w, star))).toBe(true);
    expect(['circle', 'red', 'small', 'shapes', 'above'].some((w) => objectMatchesWord(w, star))).toBe(false);
  });
});
