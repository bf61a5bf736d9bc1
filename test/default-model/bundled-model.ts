import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { generateSynthetic, loadKarpathy, type KarpathyDataset } from '../../src/data/index.js';
import { loadCaptioner, type Captioner } from '../../src/decoding/index.js';
import type { EvaluationReport } from '../../pipelines/evaluate.js';

/** A seed used neither for training (11) nor for choosing runs nor for the full measurements (docs/benchmarks.md). */
export const FRESH_SEED = 777;

/** Fresh scenes the bars are checked on: the bar's own minimum, so one scene is a third of a point. */
export const FRESH_SCENES = 300;

/**
 * For a describe block: loads the model bundled in `dir` and synthesises FRESH_SCENES fresh scenes,
 * all in the test split, before its tests; frees both after. Read the fields inside tests.
 */
export function useBundledModel(dir: string): { captioner: Captioner; data: KarpathyDataset } {
  const fixture = {} as { captioner: Captioner; data: KarpathyDataset };
  let root: string;
  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'bundled-model-'));
    const ds = await generateSynthetic({ outDir: join(root, 'data'), count: FRESH_SCENES, seed: FRESH_SEED });
    const loaded = await loadKarpathy(ds.jsonPath, ds.imageDir);
    fixture.data = { ...loaded, name: `synthetic seed ${FRESH_SEED}`, images: loaded.images.map((im) => ({ ...im, split: 'test' as const })) };
    fixture.captioner = await loadCaptioner(dir);
  });
  afterAll(async () => {
    fixture.captioner?.dispose();
    await rm(root, { recursive: true, force: true });
  });
  return fixture;
}

/** The default model's bars: content accuracy >= 0.95 and attention hit rate >= 0.90 (BLEU is reported, not barred). */
export function expectModelBars(r: EvaluationReport): void {
  expect(r.content!.accuracy, JSON.stringify(r.content!.examples)).toBeGreaterThanOrEqual(0.95);
  expect(r.attention!.rate).toBeGreaterThanOrEqual(0.9);
}
