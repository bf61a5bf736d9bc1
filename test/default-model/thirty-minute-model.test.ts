import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { generateSynthetic, loadKarpathy, type KarpathyDataset } from '../../src/data/index.js';
import { loadCaptioner, type Captioner } from '../../src/model/index.js';
import { evaluate } from '../../pipelines/evaluate.js';

const bundled = fileURLToPath(new URL('../../models/thirty-minute', import.meta.url));
// As for the default model: a seed used neither for training (11) nor for choosing (8089, 10007) nor for the full measurements (6067, 12011).
const FRESH_SEED = 777;

describe('the thirty-minute model (models/thirty-minute)', () => {
  let root: string;
  let data: KarpathyDataset;
  let captioner: Captioner;

  beforeAll(async () => {
    await initBackend('wasm');
    root = await mkdtemp(join(tmpdir(), 'thirty-minute-'));
    const ds = await generateSynthetic({ outDir: join(root, 'data'), count: 60, seed: FRESH_SEED });
    data = await loadKarpathy(ds.jsonPath, ds.imageDir);
    captioner = await loadCaptioner(bundled);
  });
  afterAll(async () => {
    captioner?.dispose();
    await rm(root, { recursive: true, force: true });
  });

  it('loads with the search bonuses its recipe recorded, and no learned re-ranker', () => {
    expect(captioner.model.config.searchDefaults).toEqual({ groupBonus: 4, orderBonus: 5 });
    expect(captioner.model.config.twinMarks?.length).toBeGreaterThan(0);
    expect(captioner.model.reranker).toBeUndefined();
    expect(captioner.vocab.styleCount).toBe(5);
  });

  // On these 60 scenes (2026-12-05): BLEU-4 0.988, content 0.983, complete + correct 0.983, hit rate
  // 0.940 (colour 0.940, shape 0.940); without the bonuses BLEU-4 0.919. The floors are the issue's
  // bars, so a broken checkpoint, search bonus or decoder fails.
  it("reaches the issue's bars on 60 fresh scenes at beam 4 with its own search bonuses, and not without them", async () => {
    const all = { name: `synthetic seed ${FRESH_SEED}`, images: data.images.map((im) => ({ ...im, split: 'test' as const })) };
    const r = await evaluate({ captioner, dataset: all, split: 'test', beamSize: 4, backend: 'wasm' });
    expect([r.images, r.groupBonus, r.orderBonus, r.learnedRerank]).toEqual([60, 4, 5, false]);
    expect(r.content!.accuracy, JSON.stringify(r.content!.examples)).toBeGreaterThanOrEqual(0.95);
    expect(r.content!.completeAccuracy).toBeGreaterThanOrEqual(0.95);
    expect(r.attention!.rate).toBeGreaterThanOrEqual(0.85);
    expect(r.attention!.perClass.color!.rate).toBeGreaterThanOrEqual(0.85);
    expect(r.attention!.perClass.shape!.rate).toBeGreaterThanOrEqual(0.85);
    expect(r.bleu.bleu4).toBeGreaterThanOrEqual(0.95);
    const plain = await evaluate({ captioner, dataset: all, split: 'test', beamSize: 4, backend: 'wasm', groupBonus: 0, orderBonus: 0 });
    expect([plain.groupBonus, plain.orderBonus]).toEqual([0, 0]);
    expect(r.bleu.bleu4).toBeGreaterThan(plain.bleu.bleu4 + 0.03);
  }, 120_000);
});
