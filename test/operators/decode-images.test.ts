import { lastValueFrom, of, toArray } from 'rxjs';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImages, type DecodedJob, type FailedJob } from '../../operators/decode-images.js';
import type { PreprocessConfig } from '../../src/data/types.js';
import type { Job } from '../../src/sources/job.js';

const preprocess: PreprocessConfig = { imageSize: 32, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

const jobOf = (bytes: Buffer, id = 'a.jpg'): Job => ({ id, bytes, source: id, receivedAt: 0, ack: async () => undefined, fail: async () => undefined });

async function decode(jobs: Job[], opts: Partial<Parameters<typeof decodeImages>[0]> = {}): Promise<Array<DecodedJob | FailedJob>> {
  return lastValueFrom(of(...jobs).pipe(decodeImages({ preprocess, ...opts }), toArray()));
}

describe('decodeImages (real JPEGs through sharp)', () => {
  const jpeg = () => sharp({ create: { width: 120, height: 90, channels: 3, background: 'teal' } }).jpeg().toBuffer();

  it('makes a thumbnail only when asked to, the model input always', async () => {
    const bytes = await jpeg();
    let wanted = false;
    const [without] = await decode([jobOf(bytes)], { thumbnails: () => wanted });
    wanted = true;
    const [withThumb] = await decode([jobOf(bytes)], { thumbnails: () => wanted });
    expect(without).toMatchObject({ ok: true, thumbnail: undefined });
    expect((without as DecodedJob).image.pixels.length).toBe(32 * 32 * 3);
    expect((await sharp((withThumb as DecodedJob).thumbnail!).metadata()).format).toBe('jpeg');
    expect((withThumb as DecodedJob).image.pixels).toEqual((without as DecodedJob).image.pixels);
  });

  it('refuses bytes a source handed over that exceed maxFileBytes, naming the option', async () => {
    const bytes = await jpeg();
    const [out] = await decode([jobOf(bytes, 'big.jpg')], { maxFileBytes: 100, maxFileBytesOption: '--max-file-bytes' });
    expect(out).toMatchObject({ ok: false, reason: 'too-large' });
    expect((out as FailedJob).message).toMatch(new RegExp(`^big.jpg: .*the file has ${bytes.length} bytes, more than the limit of 100 \\(raise --max-file-bytes\\)$`));
  });
});
