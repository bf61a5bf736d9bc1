import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';
import { generateSynthetic, loadKarpathy, type KarpathyDataset } from '../../src/data/index.js';
import { readPth, tensorValues, type TorchTensor } from '../../src/interop/pth.js';
import { loadCheckpoint } from '../../src/model/index.js';
import { trainPipeline } from '../../pipelines/train.js';
import { runCli } from '../cli/run-cli.js';
import { FIXTURES } from './pytorch-fixtures.js';

const WEIGHTS = join(FIXTURES, 'resnet_basic_tiny.pth');
const narrow = { kind: 'resnet' as const, block: 'basic' as const, layers: [2, 1, 1, 1], widths: [8, 8, 16, 16], stem: 8 };

describe('training on a torchvision ResNet loaded from a .pth file', () => {
  let root: string;
  let data: KarpathyDataset;
  beforeAll(async () => {
    await initBackend(SUITE_BACKEND);
    root = await mkdtemp(join(tmpdir(), 'resnet-train-'));
    const ds = await generateSynthetic({ outDir: join(root, 'data'), count: 16, seed: 3 });
    data = await loadKarpathy(ds.jsonPath, ds.imageDir);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it.each([false, true])('fineTune %s: trains, and the checkpoint stores the ResNet (frozen weights unchanged)', async (fineTune) => {
    const outDir = join(root, `run-${fineTune}`);
    const tensorsBefore = tf.memory().numTensors;
    const events = await lastValueFrom(
      trainPipeline({
        dataset: data, outDir, epochs: 1, batchSize: 2, stepsPerEpoch: 2, valLimit: 2, beamSize: 1, probeCount: 0, maxDecodeSteps: 4, imageSize: 64,
        model: { encoder: { ...narrow, fineTune }, encoderDim: 16, gridSize: 4, attentionDim: 8, embedDim: 8, decoderDim: 16 },
        encoderWeights: WEIGHTS,
      }).pipe(toArray()),
    );
    expect(events.filter((e) => e.type === 'train.step')).toHaveLength(2);
    const ck = await loadCheckpoint(join(outDir, 'last'));
    const torch = (await readPth(WEIGHTS)).root as Map<string, TorchTensor>;
    const stored = new Map(ck.model.namedWeights().map((w) => [w.name, w.variable]));
    // The stem is frozen either way: the checkpoint holds the file's values (conv kernel transposed to tfjs layout).
    const stem = (await stored.get('encoder/resnet/bn1.running_var')!.data()) as Float32Array;
    expect([...stem]).toEqual([...tensorValues(WEIGHTS, 'bn1.running_var', torch.get('bn1.running_var')!)]);
    const gamma = (await stored.get('encoder/resnet/layer4.0.bn2.weight')!.data()) as Float32Array;
    const before = tensorValues(WEIGHTS, 'layer4.0.bn2.weight', torch.get('layer4.0.bn2.weight')!);
    expect([...gamma].some((g, i) => g !== before[i])).toBe(fineTune);
    ck.model.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  }, 120_000);

  it('the CLI refuses a weights file of another architecture, naming it and the fix', async () => {
    const r = await runCli(['train', '--data', join(root, 'data'), '--out', join(root, 'cli'), '--encoder', 'resnet18', '--encoder-weights', WEIGHTS, '--epochs', '1', '--steps-per-epoch', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/resnet_basic_tiny\.pth: holds a basic ResNet with blocks \[2, 1, 1, 1\].*pick the matching --encoder/);
    const bad = await runCli(['train', '--data', join(root, 'data'), '--out', join(root, 'cli2'), '--encoder', 'resnet19', '--encoder-weights', WEIGHTS]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--encoder resnet19: expected resnet18, resnet34, resnet50, resnet101 or resnet152/);
  }, 60_000);
});
