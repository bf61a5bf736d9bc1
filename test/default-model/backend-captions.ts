/**
 * Captions of the bundled model on fixed fresh scenes, as the demo makes them (beam 4, 30 steps,
 * the default re-ranking): what test/default-model/backend-captions.test.ts compares between
 * backends. Record the fixture on wasm (the reference backend) with
 *   CAPTIONER_BACKEND=wasm npx tsx test/default-model/backend-captions.ts
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../../src/backend/index.js';
import { generateSynthetic, loadKarpathy, prepareImage } from '../../src/data/index.js';
import { loadCaptioner } from '../../src/decoding/index.js';
// The bundled-model tests' fresh seed (bundled-model.ts imports vitest, so it is not imported here).
const FRESH_SEED = 777;

/** The demo's fresh-scene seed (src/cli/commands/demo.ts) and the bundled-model tests' seed. */
export const SCENE_SETS = [
  { seed: 424242, count: 4 },
  { seed: FRESH_SEED, count: 24 },
] as const;
export const MODELS = ['models/default'] as const;
export const FIXTURE = fileURLToPath(new URL('../fixtures/backend-captions.json', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

export interface RecordedCaption {
  model: string;
  scene: string;
  caption: string;
  logProb: number;
}

/** Captions every scene set with every bundled model on the current backend. */
export async function captionBundledModels(): Promise<RecordedCaption[]> {
  await initBackend();
  const root = await mkdtemp(join(tmpdir(), 'backend-captions-'));
  const out: RecordedCaption[] = [];
  try {
    for (const model of MODELS) {
      const captioner = await loadCaptioner(join(repo, model));
      try {
        for (const { seed, count } of SCENE_SETS) {
          const ds = await generateSynthetic({ outDir: join(root, `seed-${seed}`), count, seed });
          const scenes = (await loadKarpathy(ds.jsonPath, ds.imageDir)).images;
          const images = await Promise.all(scenes.map((s) => prepareImage(s.path, captioner.preprocess)));
          const results = await captioner.caption(images, { beamSize: 4, maxSteps: 30 });
          results.forEach((r, i) => out.push({ model, scene: `seed ${seed} #${i}`, caption: r.caption, logProb: Number(r.best.logProb.toFixed(5)) }));
        }
      } finally {
        captioner.dispose();
      }
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const info = await initBackend();
  if (info.name !== 'wasm') throw new Error(`record the fixture on wasm (CAPTIONER_BACKEND=wasm), not ${info.name}`);
  const captions = await captionBundledModels();
  await writeFile(FIXTURE, JSON.stringify({ backend: info.name, beamSize: 4, maxSteps: 30, captions }, null, 1) + '\n');
  console.log(`wrote ${captions.length} captions to ${FIXTURE}`);
}
