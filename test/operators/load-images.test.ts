import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subject, from, lastValueFrom, of, toArray } from 'rxjs';
import sharp from 'sharp';
import { loadImages, type LoadImageEvent } from '../../operators/load-images.js';
import { ImageDecodeError } from '../../src/data/errors.js';
import { prepareImage } from '../../src/data/preprocess.js';
import { IMAGENET_PREPROCESS, type PreparedImage } from '../../src/data/types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fakeImage = (v: number): PreparedImage => ({ pixels: new Float32Array([v]), size: 1, sourceWidth: 1, sourceHeight: 1 });

describe('loadImages', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'load-images-'));
    await sharp({ create: { width: 20, height: 10, channels: 3, background: { r: 255, g: 0, b: 0 } } })
      .png()
      .toFile(join(dir, 'red.png'));
    await writeFile(join(dir, 'broken.png'), Buffer.from('not a png at all'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('decodes real files with prepareImage and turns bad files into typed skipped events', async () => {
    const cfg = { ...IMAGENET_PREPROCESS, imageSize: 8 };
    const events = await lastValueFrom(
      from(['red.png', 'broken.png', 'missing.png']).pipe(
        loadImages({ load: (name: string) => prepareImage(join(dir, name), cfg), concurrency: 2 }),
        toArray(),
      ),
    );
    const byName = new Map(events.map((e) => [e.item, e]));
    const red = byName.get('red.png');
    expect(red?.kind).toBe('loaded');
    if (red?.kind === 'loaded') {
      expect(red.image.size).toBe(8);
      expect(red.image.pixels.length).toBe(8 * 8 * 3);
      expect(red.image.sourceWidth).toBe(20);
    }
    const broken = byName.get('broken.png');
    const missing = byName.get('missing.png');
    expect(broken?.kind).toBe('skipped');
    expect(missing?.kind).toBe('skipped');
    if (missing?.kind === 'skipped') expect(missing.error.reason).toBe('not-found');
  });

  it('never runs more loads at once than the concurrency bound and loses no item', async () => {
    let running = 0;
    let peak = 0;
    const load = async (x: number) => {
      running++;
      peak = Math.max(peak, running);
      await sleep(2 + (x % 3));
      running--;
      return fakeImage(x);
    };
    const events = await lastValueFrom(from([...Array(20).keys()]).pipe(loadImages({ load, concurrency: 3 }), toArray()));
    expect(peak).toBe(3);
    expect(events.map((e) => e.item).sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
  });

  it('errors the stream on an error that is not an ImageDecodeError (a bug, not bad data)', async () => {
    const load = async (x: number) => {
      if (x === 2) throw new TypeError('bug');
      return fakeImage(x);
    };
    await expect(lastValueFrom(from([1, 2, 3]).pipe(loadImages({ load, concurrency: 1 }), toArray()))).rejects.toThrow('bug');
  });

  it('catches a synchronous throw of the load function too', async () => {
    const load = (x: number): Promise<PreparedImage> => {
      throw new ImageDecodeError(`f${x}`, 'corrupt', 'sync');
    };
    const events = await lastValueFrom(of(1).pipe(loadImages({ load }), toArray()));
    expect(events[0]?.kind).toBe('skipped');
  });

  it('completes on empty input and rejects a bad concurrency', async () => {
    const events = await lastValueFrom(from<number[]>([]).pipe(loadImages({ load: async (x: number) => fakeImage(x) }), toArray()));
    expect(events).toEqual([]);
    expect(() => loadImages({ load: async (x: number) => fakeImage(x), concurrency: 0 })).toThrow(/concurrency/);
  });

  it('stops starting loads after unsubscribe', async () => {
    const input = new Subject<number>();
    let started = 0;
    const seen: LoadImageEvent<number>[] = [];
    const sub = input
      .pipe(
        loadImages({
          load: async (x: number) => {
            started++;
            await sleep(5);
            return fakeImage(x);
          },
          concurrency: 1,
        }),
      )
      .subscribe((e) => seen.push(e));
    input.next(1);
    input.next(2);
    sub.unsubscribe();
    await sleep(20);
    expect(started).toBe(1);
    expect(seen).toEqual([]);
    expect(input.observed).toBe(false);
  });
});
