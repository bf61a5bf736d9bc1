import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSynthetic } from '../../src/data/index.js';
import { COLOR_NAMES, SHAPES } from '../../src/data/synthetic/lexicon.js';
import { runCli } from '../cli/run-cli.js';

const shipped = fileURLToPath(new URL('../../models/default', import.meta.url));
const colourShape = new Set(COLOR_NAMES.flatMap((c) => SHAPES.map((s) => `${c} ${s}`)));

describe('captioner calibrate on the shipped model', () => {
  let root: string;
  let data: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'calibrate-'));
    data = join(root, 'data');
    // 2,000 scenes (1,800 train and val images), a seed no choice was made on.
    await generateSynthetic({ outDir: data, count: 2000, seed: 31337 });
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('finds, from captions alone, that colour-shape phrases count objects and phrases such as "a large" or "circle and" do not', async () => {
    const model = join(root, 'model');
    await cp(shipped, model, { recursive: true });
    const before = JSON.parse(await readFile(join(model, 'model.json'), 'utf8'));
    const weights = await readFile(join(model, 'weights.bin'));
    const r = await runCli(['calibrate', '--model', model, '--data', data]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/phrases count objects \(calibrated on 1800 train and val images\)/);
    // A new config is a new model: the shipped re-ranker goes, and the user is told how to get one back.
    expect(r.stdout).toContain(`${model}: its learned re-ranker (reranker.json) was trained for the old config and is deleted; train a new one with captioner rerank-train --model ${model}`);
    expect(await readdir(model)).not.toContain('reranker.json');
    const after = JSON.parse(await readFile(join(model, 'model.json'), 'utf8'));
    const words = JSON.parse(await readFile(join(model, 'vocabulary.json'), 'utf8')).words as string[];
    const counted = (after.config.countablePhrases as number[]).map((q) => (after.config.phrases[q] as number[]).map((id) => words[id]).join(' '));
    // Of the 42 colour-shape pairs, those named twice in fewer than 20 captions of 1,800 scenes are not
    // kept. "an orange" may be: on the training scenes it contradicted 3.6% of its evidence.
    expect(counted.filter((p) => colourShape.has(p)).length, counted.join(', ')).toBeGreaterThanOrEqual(5);
    expect(counted.filter((p) => !colourShape.has(p) && p !== 'an orange'), counted.join(', ')).toEqual([]);
    // Only the config changed: the weights, the rest of model.json and the README are as they were.
    expect({ ...after, config: { ...after.config, countablePhrases: undefined }, savedAt: before.savedAt }).toEqual({ ...before, config: { ...before.config, countablePhrases: undefined } });
    expect((await readFile(join(model, 'weights.bin'))).equals(weights)).toBe(true);
    expect(await readFile(join(model, 'README.md'), 'utf8')).toBe(await readFile(join(shipped, 'README.md'), 'utf8'));
  }, 180_000);

  it('names the model when it has no phrase detector to count with', async () => {
    const model = join(root, 'plain');
    await cp(shipped, model, { recursive: true });
    const file = join(model, 'model.json');
    const mf = JSON.parse(await readFile(file, 'utf8'));
    delete mf.config.phrases;
    delete mf.config.countablePhrases;
    mf.weights = mf.weights.filter((w: { name: string }) => !/phrase/.test(w.name));
    await (await import('node:fs/promises')).writeFile(file, JSON.stringify(mf));
    // Another model now: the shipped re-ranker would be refused first (learned-rerank.test.ts tests that).
    await (await import('node:fs/promises')).rm(join(model, 'reranker.json'));
    const r = await runCli(['calibrate', '--model', model, '--data', data]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${model}: the model has no phrase detector to count with (train it with --phrase-detection)`);
  }, 60_000);
});
