import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadCaptioner, type Captioner } from '../../src/decoding/index.js';
import { saveTinyModel } from '../fixtures/tiny-model.js';

/** The encoder is where a GPU pays: a batch of images must reach it as one call on every backend. */
describe('Captioner encodes a batch in one encoder call', () => {
  let dir: string;
  let captioner: Captioner;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'encoder-batch-'));
    await saveTinyModel(join(dir, 'model'));
    captioner = await loadCaptioner(join(dir, 'model'));
  });
  afterAll(async () => {
    captioner?.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes all five images of a batch to model.encode at once', async () => {
    const size = captioner.preprocess.imageSize;
    const images = Array.from({ length: 5 }, (_, i) => ({ pixels: new Float32Array(size * size * 3).fill(i / 5), size, sourceWidth: size, sourceHeight: size }));
    const encode = vi.spyOn(captioner.model, 'encode');
    const results = await captioner.caption(images, { beamSize: 2, maxSteps: 4 });
    expect(results).toHaveLength(5);
    expect(encode).toHaveBeenCalledTimes(1);
    expect(encode.mock.calls[0]![0].shape[0]).toBe(5);
    encode.mockRestore();
  });
});
