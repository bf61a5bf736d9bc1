import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attentionFigureSize } from '../../src/render/attention-figure.js';
import { runCli } from '../cli/run-cli.js';
import { FIXTURES, loadOutputs } from './pytorch-fixtures.js';

const fx = (name: string) => join(FIXTURES, name);
const WORDMAP = fx('WORDMAP_tiny.json');
const { meta } = loadOutputs();

describe('captioner import', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-import-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('imports the tutorial checkpoint and `caption --model DIR` gives PyTorch\'s beam-3 caption', async () => {
    const model = join(dir, 'legacy');
    const r = await runCli(['import', '--checkpoint', fx('checkpoint_tiny_legacy.pth.tar'), '--word-map', WORDMAP, '--out', model]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/imported .*checkpoint_tiny_legacy\.pth\.tar \(legacy container, whole modules\): ResNet \(bottleneck, blocks 1\/2\/1\/1\), 14x14 grid of 128/);
    const saved = JSON.parse(await readFile(join(model, 'model.json'), 'utf8')) as { meta: Record<string, unknown> };
    expect(saved.meta).toMatchObject({ importedFrom: 'checkpoint_tiny_legacy.pth.tar', container: 'legacy', epoch: 3 });
    expect(JSON.parse(await readFile(join(model, 'preprocess.json'), 'utf8'))).toEqual({ imageSize: 256, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], alpha: 'drop', resizeKernel: 'pil-bilinear' });
    // The tutorial's step cap "step > 50" stops after 51 tokens.
    const cap = await runCli(['caption', '-i', fx('grey.png'), '-o', join(dir, 'out'), '--model', model, '--beam-size', '3', '--max-steps', '51']);
    expect(cap.code).toBe(0);
    const json = JSON.parse(await readFile(join(dir, 'out', 'grey.json'), 'utf8')) as { words: string[]; logProb: number; finished: boolean };
    const wordMap = JSON.parse(await readFile(WORDMAP, 'utf8')) as Record<string, number>;
    const words = Object.fromEntries(Object.entries(wordMap).map(([w, i]) => [i, w]));
    const want = meta.captions['grey.png']!['k3_cap50']!;
    expect(want.finished).toBe(true);
    expect(json.words).toEqual(want.ids.slice(0, -1).map((i) => words[i]));
    expect(json.logProb).toBeCloseTo(want.score, 3);
    // The reference's figure for 14x14 maps: one 336 px panel per token (<start> .. <end>), 5 per row.
    const figure = await sharp(join(dir, 'out', 'grey.attention.png')).metadata();
    const size = attentionFigureSize(want.ids.length + 1);
    expect([figure.width, figure.height]).toEqual([size.width, size.height]);
    expect(size.width).toBe(5 * 336 + 4 * 8);
  }, 120_000);

  it('imports the zip container, a plain state_dict and a CUDA-saved descendant checkpoint with its word map', async () => {
    const runs = await Promise.all([
      runCli(['import', '--checkpoint', fx('checkpoint_tiny_zip.pth.tar'), '--word-map', WORDMAP, '--out', join(dir, 'zip')]),
      runCli(['import', '--checkpoint', fx('state_dict_tiny.pth'), '--word-map', WORDMAP, '--out', join(dir, 'plain')]),
      runCli(['import', '--checkpoint', fx('checkpoint_descendant_cuda.pth.tar'), '--word-map', fx('WORDMAP_descendant.json'), '--out', join(dir, 'descendant')]),
    ]);
    for (const r of runs) expect([r.code, r.stderr]).toEqual([0, '']);
    expect(runs[1]!.stdout).toMatch(/flat state_dict.*\n.*note: the file holds state_dicts: batch-norm epsilon 1e-5 and a 14x14 grid assumed/);
    expect(runs[2]!.stdout).toMatch(/note: the word map gives <unk> index 34, beyond the decoder's 34 words \(the descendant's layout\); <unk> takes the unused index 31/);
    const weights = await Promise.all(['legacy', 'zip', 'plain', 'descendant'].map((d) => readFile(join(dir, d, 'weights.bin')).catch(() => undefined)));
    // Same tensors whatever the container or layout (legacy/ is the test above's import).
    for (const w of weights) expect(w?.equals(weights[1]!)).toBe(true);
  }, 120_000);

  it('refuses hostile or wrong inputs with one line naming the file, and writes nothing', async () => {
    const out = join(dir, 'refused');
    const cases: [string[], RegExp][] = [
      [['--checkpoint', fx('hostile/os_system.pth'), '--word-map', WORDMAP], /os_system\.pth: it calls os\.system, which a checkpoint has no reason to call; refused/],
      [['--checkpoint', fx('hostile/os_system_zip.pth'), '--word-map', WORDMAP], /os_system_zip\.pth: it calls os\.system/],
      [['--checkpoint', fx('hostile/random.zip'), '--word-map', WORDMAP], /random\.zip: is a zip without data\.pkl/],
      [['--checkpoint', fx('hostile/list.pth'), '--word-map', WORDMAP], /list\.pth: is not a Show-Attend-Tell checkpoint.*found a list/],
      [['--checkpoint', fx('resnet_basic_tiny.pth'), '--word-map', WORDMAP], /resnet_basic_tiny\.pth: is a ResNet state_dict, not a captioning checkpoint/],
      [['--checkpoint', fx('checkpoint_tiny_zip.pth.tar')], /holds no word map: pass the WORDMAP_\*\.json it was trained with \(--word-map\)/],
      [['--checkpoint', fx('checkpoint_tiny_zip.pth.tar'), '--word-map', fx('outputs.json')], /outputs\.json: .*"torch" has index "[^"]*", not an integer/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(['import', ...args, '--out', out])));
    results.forEach((r, i) => {
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^captioner import: /);
      expect(lines[0]).not.toMatch(/internal error/);
      expect(lines[0]).toMatch(cases[i]![1]);
    });
    expect((await readdir(dir)).filter((n) => n.includes('refused'))).toEqual([]);
  }, 120_000);
});
