import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';

async function digest(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      h.update(e.name);
      if (e.isDirectory()) await walk(p);
      else h.update(await readFile(p));
    }
  };
  await walk(dir);
  return h.digest('hex');
}

const tinyModel = ['--channels', '8,16,16,16', '--attention-dim', '16', '--embed-dim', '16', '--decoder-dim', '32', '--batch-size', '8', '--val-limit', '4', '--beam-size', '2'];

describe('captioner CLI: synth, train, eval, score, caption', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-run-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('synth is deterministic: the same seed gives the same bytes, another seed other bytes', async () => {
    const [a, b, c] = await Promise.all([
      runCli(['synth', '--out', join(dir, 'a'), '--count', '30', '--seed', '5']),
      runCli(['synth', '--out', join(dir, 'b'), '--count', '30', '--seed', '5']),
      runCli(['synth', '--out', join(dir, 'c'), '--count', '30', '--seed', '6']),
    ]);
    for (const r of [a, b, c]) expect(r.code).toBe(0);
    expect(a.stdout).toMatch(new RegExp(`^backend: ${SUITE_BACKEND} `, 'm'));
    expect(a.stdout).toMatch(/wrote 30 images/);
    expect(await digest(join(dir, 'a'))).toBe(await digest(join(dir, 'b')));
    expect(await digest(join(dir, 'a'))).not.toBe(await digest(join(dir, 'c')));
  });

  it('trains a word and a phrase detector, kept in best/ and last/', async () => {
    const model = join(dir, 'phrase-model');
    const phrases = ['--word-detection', '1', '--phrase-detection', '1', '--phrases', '8'];
    const train = await runCli(['train', '--data', join(dir, 'a'), '--out', model, '--epochs', '1', '--steps-per-epoch', '1', '--no-feed', ...tinyModel, ...phrases]);
    expect(train.code, train.stderr).toBe(0);
    for (const sub of ['best', 'last']) {
      const config = JSON.parse(await readFile(join(model, sub, 'model.json'), 'utf8')).config;
      expect(config.wordDetector).toBe(true);
      expect(config.phrases).toHaveLength(8);
    }
  });

  it('trains, resumes, evaluates, scores the predictions and captions images with figures', async () => {
    const data = join(dir, 'a');
    const model = join(dir, 'model');
    const train = await runCli(['train', '--data', data, '--out', model, '--epochs', '1', '--steps-per-epoch', '2', ...tinyModel]);
    expect(train.stderr).toBe('');
    expect(train.code).toBe(0);
    expect(train.stdout).toMatch(new RegExp(`^backend: ${SUITE_BACKEND} `, 'm'));
    expect(train.stdout).toMatch(/epoch 1 validation: BLEU-1\.\.4/);
    expect(train.stdout).toMatch(/training completed \(epochs limit\) after 1 epochs, 2 steps/);
    expect((await readdir(model)).sort()).toEqual(['best', 'last']);

    // The rest runs side by side; resume works on a copy so the others read a stable model (the
    // refused second run reads only: it checks for last/ before it creates anything).
    const copy = join(dir, 'model-copy');
    await cp(model, copy, { recursive: true });
    const images = (await readdir(join(data, 'images'))).slice(0, 2).map((f) => join(data, 'images', f));
    const out = join(dir, 'captions');
    const noFig = join(dir, 'captions-nofig');
    const preds = join(dir, 'pred.json');
    const [again, resumed, ev, cap, cap2] = await Promise.all([
      runCli(['train', '--data', data, '--out', model, '--epochs', '1', ...tinyModel]),
      runCli(['train', '--data', data, '--out', copy, '--epochs', '2', '--steps-per-epoch', '2', '--resume', ...tinyModel]),
      runCli(['eval', '--model', model, '--data', data, '--beam-size', '2', '--max-steps', '10', '--json', '--predictions', preds]),
      runCli(['caption', '-i', ...images, '-o', out, '--model', model, '--beam-size', '2', '--max-steps', '10']),
      runCli(['caption', '-i', images[0]!, '-o', noFig, '--model', model, '--no-figure', '--max-steps', '5']),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds a training run.*--resume/);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/resuming at epoch 2\/2/);
    expect(resumed.stdout).toMatch(/after 2 epochs, 4 steps/);

    expect(ev.code).toBe(0);
    expect(ev.stderr).toMatch(new RegExp(`^backend: ${SUITE_BACKEND} `));
    const report = JSON.parse(ev.stdout) as { split: string; beamSize: number; backend: string; images: number; bleu: { bleu4: number }; content?: unknown };
    // The tiny model has no word detector: its beams are ranked as the reference ranks them.
    expect(report).toMatchObject({ split: 'test', beamSize: 2, backend: SUITE_BACKEND, detectorRerank: 0 });
    expect(report.images).toBeGreaterThan(0);
    expect(report.content).toBeDefined();
    const score = await runCli(['score', '--hyps', preds, '--refs', join(data, 'dataset.json'), '--split', 'test', '--json']);
    expect(score.code).toBe(0);
    expect(JSON.parse(score.stdout)).toMatchObject({ count: report.images });

    expect(cap.code).toBe(0);
    const files = (await readdir(out)).sort();
    expect(files).toEqual(['synth-00000.attention.png', 'synth-00000.json', 'synth-00000.txt', 'synth-00001.attention.png', 'synth-00001.json', 'synth-00001.txt']);
    const json = JSON.parse(await readFile(join(out, 'synth-00000.json'), 'utf8')) as { caption: string; words: string[]; attention: number[][]; gridSize: number; score: number };
    expect((await readFile(join(out, 'synth-00000.txt'), 'utf8')).trim()).toBe(json.caption);
    expect(json.words.join(' ')).toBe(json.caption);
    expect(json.attention.length).toBeGreaterThanOrEqual(json.words.length);
    expect(json.attention[0]).toHaveLength(json.gridSize ** 2);
    expect(Number.isFinite(json.score)).toBe(true);
    const png = await readFile(join(out, 'synth-00000.attention.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(cap.stdout).toContain('synth-00000.attention.png');

    expect(cap2.code).toBe(0);
    expect((await readdir(noFig)).sort()).toEqual(['synth-00000.json', 'synth-00000.txt']);
  }, 180_000);
});
