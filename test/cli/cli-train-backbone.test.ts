import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { fileSystemSaver } from '../../src/model/index.js';
import { runCli } from './run-cli.js';

describe('captioner train with a pretrained backbone (--encoder-path)', () => {
  let dir: string;
  beforeAll(async () => {
    await initBackend();
    dir = await mkdtemp(join(tmpdir(), 'cli-backbone-'));
    // A tiny stand-in for a pretrained CNN, saved as a tfjs LayersModel directory.
    const backbone = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }),
        tf.layers.conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'feat' }),
        tf.layers.flatten({ name: 'flat' }),
        tf.layers.dense({ units: 5, name: 'logits' }),
      ],
    });
    await backbone.save(fileSystemSaver(join(dir, 'backbone')));
    backbone.dispose();
    expect((await runCli(['synth', '--out', join(dir, 'data'), '--count', '30', '--seed', '9'])).code).toBe(0);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('trains on the backbone features (fine-tuned) and captions with the saved model', async () => {
    const model = join(dir, 'model');
    const common = ['--data', join(dir, 'data'), '--image-size', '16', '--grid-size', '4', '--attention-dim', '8', '--embed-dim', '8', '--decoder-dim', '16', '--batch-size', '4', '--val-limit', '2', '--epochs', '1', '--steps-per-epoch', '2'];
    const [train, missingOutput, strayFineTune] = await Promise.all([
      runCli(['train', '--out', model, ...common, '--encoder-path', join(dir, 'backbone'), '--encoder-output', 'feat', '--encoder-dim', '12', '--fine-tune']),
      runCli(['train', '--out', join(dir, 'm2'), ...common, '--encoder-path', join(dir, 'backbone'), '--encoder-dim', '12']),
      runCli(['train', '--out', join(dir, 'm3'), ...common, '--fine-tune']),
    ]);
    expect(train.stderr).toBe('');
    expect(train.code).toBe(0);
    expect(train.stdout).toMatch(/training completed/);
    const saved = JSON.parse(await readFile(join(model, 'best', 'model.json'), 'utf8')) as { config: { encoder: unknown; encoderDim: number; gridSize: number } };
    expect(saved.config).toMatchObject({ encoder: { kind: 'external', featureOutput: 'feat', fineTune: true }, encoderDim: 12, gridSize: 4 });
    expect(missingOutput.code).toBe(1);
    expect(missingOutput.stderr.trim()).toMatch(/^captioner train: --encoder-path .*--encoder-output NAME/);
    expect(strayFineTune.code).toBe(1);
    expect(strayFineTune.stderr.trim()).toMatch(/--fine-tune apply to a pretrained backbone: add --encoder-path/);

    const cap = await runCli(['caption', '-i', join(dir, 'data', 'images', 'synth-00000.png'), '-o', join(dir, 'out'), '--model', model, '--no-figure', '--max-steps', '5']);
    expect(cap.code).toBe(0);
    const json = JSON.parse(await readFile(join(dir, 'out', 'synth-00000.json'), 'utf8')) as { gridSize: number; attention: number[][] };
    expect(json.gridSize).toBe(4);
    expect(json.attention[0]).toHaveLength(16);
  }, 120_000);
});
