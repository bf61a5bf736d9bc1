import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCaptionFolder } from '../../pipelines/caption-folder.js';
import { captionFiles } from '../../src/cli/commands/caption.js';
import { DEFAULT_MODEL_DIR } from '../../src/cli/default-model.js';
import { prepareImage } from '../../src/data/index.js';
import { loadCaptioner } from '../../src/decoding/index.js';
import type { CaptionRecord } from '../../src/sinks/caption-record.js';
import { dropImages, imageBytes, makeTinyModel, tempDir, waitFor } from './helpers.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';

// Detector re-ranking in the folder service: the option travels to the replicas, and a model that
// cannot honour it is refused at start.
describe('caption-folder service: detector re-ranking', () => {
  let root: string;
  beforeAll(async () => {
    root = await tempDir('service-rerank');
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  /** Captions one image with a model (default: the shipped one) and returns its record. */
  async function captionOnce(name: string, detectorRerank: number | undefined, modelDir = DEFAULT_MODEL_DIR): Promise<CaptionRecord> {
    const inbox = join(root, name);
    await mkdir(inbox);
    await dropImages(inbox, 1);
    const service = await startCaptionFolder({ dir: inbox, modelDir, workers: 1, backend: SUITE_BACKEND, port: null, beamSize: 4, detectorRerank });
    try {
      const out = service.outDir;
      await waitFor(async () => (await readdir(out)).some((f) => f.endsWith('.json')), 'a result');
      const file = (await readdir(out)).find((f) => f.endsWith('.json'))!;
      return JSON.parse(await readFile(join(out, file), 'utf8')) as CaptionRecord;
    } finally {
      await service.stop();
    }
  }

  it('re-ranks by default with the shipped model\'s detector, and ranks as the reference with 0', async () => {
    const plain = await captionOnce('plain', 0);
    const reranked = await captionOnce('default', undefined);
    // Agreement is <= 0 and the re-ranked best maximises logProb + agreement, so its score can only be
    // lower than the best logProb; it is strictly lower unless the detector agrees perfectly.
    expect(reranked.score).toBeLessThan(plain.score);
    // The record keeps the model's own log-probability beside the ranking score.
    expect(plain.score).toBe(plain.logProb);
    expect(reranked.score).toBeLessThan(reranked.logProb);
    expect(plain.alternatives.map((a) => a.score)).toEqual([...plain.alternatives.map((a) => a.score)].sort((x, y) => y - x));
  });

  it('captions in the replicas as the library does, and so does captionFiles', async () => {
    const record = await captionOnce('library', undefined);
    const captioner = await loadCaptioner(DEFAULT_MODEL_DIR);
    try {
      const image = await prepareImage(await imageBytes(0), captioner.preprocess);
      const [direct] = await captioner.caption([image], { beamSize: 4, maxSteps: 50 });
      expect(record.caption).toBe(direct!.caption);
      expect(record.score).toBeCloseTo(direct!.best.score, 4);
      const file = join(root, 'one.png');
      await writeFile(file, await imageBytes(0));
      const [fromFiles] = await captionFiles(captioner, [file], join(root, 'files-out'), { beamSize: 4, maxSteps: 50, figure: false, alternatives: 1 });
      expect(fromFiles!.caption).toBe(direct!.caption);
    } finally {
      captioner.dispose();
    }
  });

  it('refuses --detector-rerank at start for a model without a word detector', async () => {
    const tiny = await makeTinyModel(root);
    const inbox = join(root, 'tiny');
    await mkdir(inbox);
    await expect(startCaptionFolder({ dir: inbox, modelDir: tiny, workers: 1, backend: SUITE_BACKEND, port: null, detectorRerank: 1 })).rejects.toThrow(
      /detectorRerank 1: model \w+ has no word detector \(config.wordDetector\) to re-rank with; use 0/,
    );
  });
});
