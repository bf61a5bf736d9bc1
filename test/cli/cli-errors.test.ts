import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSynthetic } from '../../src/data/index.js';
import { saveTinyModel } from '../fixtures/tiny-model.js';
import { runCli } from './run-cli.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';

/** A user error: exit 1, exactly one line on stderr, no stack trace. */
function expectOneLineError(r: { code: number | null; stderr: string }, pattern: RegExp) {
  expect(r.code).toBe(1);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('(run with --help'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('captioner CLI: help and user errors', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-errors-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints help for the program and every command', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['synth', 'train', 'eval', 'caption', 'score', 'demo']) expect(top.stdout).toContain(c);
    const results = await Promise.all(['synth', 'train', 'eval', 'caption', 'score', 'demo'].map((c) => runCli([c, '--help'])));
    for (const r of results) expect(r.code).toBe(0);
    expect(results[1]!.stdout).toMatch(/--resume[\s\S]*--max-minutes[\s\S]*--backend/);
    expect(results[3]!.stdout).toMatch(/--no-figure/);
  });

  it('rejects bad option values naming the option', async () => {
    const [epochs, backend, split, rerank] = await Promise.all([
      runCli(['train', '--out', join(dir, 'm'), '--epochs', '0']),
      runCli(['synth', '--out', join(dir, 's'), '--backend', 'tpu']),
      runCli(['eval', '--model', dir, '--split', 'dev']),
      runCli(['caption', '-i', 'x.png', '-o', dir, '--detector-rerank', 'lots']),
    ]);
    expectOneLineError(epochs, /--epochs <n>.*'0' is invalid.*integer >= 1/);
    expectOneLineError(backend, /--backend.*'tpu'.*Allowed choices/);
    expectOneLineError(split, /--split.*'dev'/);
    expectOneLineError(rerank, /--detector-rerank <w>.*'lots' is invalid.*>= 0/);
  });

  it('speaks in flags where the library names its options: --detector-rerank for a model without a word detector', async () => {
    const model = await saveTinyModel(join(dir, 'tiny'));
    const ds = await generateSynthetic({ outDir: join(dir, 'flag-data'), count: 1, seed: 5 });
    const r = await runCli(['caption', '--model', model, '-i', join(ds.imageDir, 'synth-00000.png'), '-o', join(dir, 'flag-out'), '--detector-rerank', '1']);
    expectOneLineError(r, /^captioner caption: --detector-rerank needs a model trained with a word detector \(config.wordDetector\); this one has none$/);
  }, 60_000);

  it('names a missing file, a malformed JSON file and a missing data set', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"1": "a cat",');
    const [missing, malformed, noData, noImages] = await Promise.all([
      runCli(['score', '--hyps', join(dir, 'nope.json'), '--refs', bad]),
      runCli(['score', '--hyps', bad, '--refs', bad]),
      runCli(['train', '--out', join(dir, 'm2'), '--data', join(dir, 'nodata')]),
      runCli(['train', '--out', join(dir, 'm3'), '--karpathy', bad]),
    ]);
    expectOneLineError(missing, /^captioner score: .*nope\.json/);
    expectOneLineError(malformed, /^captioner score: .*bad\.json/);
    expectOneLineError(noData, /^captioner train: --data .*nodata: no dataset\.json.*captioner synth/);
    expectOneLineError(noImages, /^captioner train: --karpathy needs --images DIR/);
  });

  it('refuses a model directory written by another version, and a directory that is no model', async () => {
    const other = join(dir, 'other-version');
    await mkdir(other, { recursive: true });
    await writeFile(join(other, 'model.json'), JSON.stringify({ formatVersion: 99, kind: 'show-attend-tell' }));
    const img = join(dir, 'x.png');
    await writeFile(img, 'whatever');
    const [version, notModel] = await Promise.all([
      runCli(['caption', '-i', img, '-o', join(dir, 'out'), '--model', other]),
      runCli(['caption', '-i', img, '-o', join(dir, 'out'), '--model', dir]),
    ]);
    expect(version.stdout).toMatch(new RegExp(`^backend: ${SUITE_BACKEND} `, 'm'));
    expectOneLineError(version, /^captioner caption: .*other-version.*another version/);
    expectOneLineError(notModel, /^captioner caption: --model .*not a model directory/);
  });
});
