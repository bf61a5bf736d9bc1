import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { prepareImage } from '../../src/data/preprocess.js';
import { importCheckpoint, REFERENCE_PREPROCESS, type ImportedModel } from '../../src/interop/import-checkpoint.js';
import { compare, FIXTURES, loadOutputs, teacherForced } from './pytorch-fixtures.js';

const { meta, tensor } = loadOutputs();
const images = Object.keys(meta.images);
let imported: ImportedModel;
const features = new Map<string, tf.Tensor3D>();

beforeAll(async () => {
  await initBackend('wasm');
  imported = await importCheckpoint(path.join(FIXTURES, 'checkpoint_tiny_legacy.pth.tar'), path.join(FIXTURES, 'WORDMAP_tiny.json'));
  for (const name of images) {
    const img = await prepareImage(path.join(FIXTURES, name), imported.preprocess);
    const batch = tf.tensor4d(img.pixels, [1, img.size, img.size, 3]);
    features.set(name, imported.model.encode(batch));
    batch.dispose();
  }
}, 60_000);

afterAll(() => {
  tf.dispose([...features.values()]);
  imported?.model.dispose();
});

describe('an imported tutorial checkpoint computes what PyTorch computed', () => {
  it('reads the architecture from the file: torchvision Bottleneck ResNet, 14x14 grid, the decoder sizes', () => {
    const c = imported.model.config;
    expect(c.encoder).toEqual({ kind: 'resnet', block: 'bottleneck', layers: [1, 2, 1, 1], widths: [8, 16, 24, 32], stem: 8, fineTune: false });
    expect([c.gridSize, c.encoderDim, c.attentionDim, c.embedDim, c.decoderDim, c.vocabSize]).toEqual([14, meta.encoder_dim, 24, 16, 20, 34]);
    expect(imported.preprocess).toEqual(REFERENCE_PREPROCESS);
  });

  it.each(images)('encoder features of %s within 1e-4 of PyTorch (relative to their scale)', async (name) => {
    const got = (await features.get(name)!.data()) as Float32Array;
    const want = tensor(`${name}/features`);
    expect(features.get(name)!.shape).toEqual([1, ...want.shape]);
    const { relative } = compare(got, want.values);
    expect(relative).toBeLessThan(1e-4);
  });

  it.each(images)('teacher-forced logits of %s within 1e-4 per step; attention within 1e-5', async (name) => {
    const ids = meta.captions[name]!.teacher_ids;
    const { logits, alphas } = await teacherForced(imported.model, features.get(name)!, ids);
    const wantLogits = tensor(`${name}/teacher_logits`);
    const wantAlphas = tensor(`${name}/teacher_alphas`);
    expect(wantLogits.shape).toEqual([ids.length - 1, imported.model.config.vocabSize]);
    expect(compare(logits, wantLogits.values).absolute).toBeLessThan(1e-4);
    expect(compare(alphas, wantAlphas.values).absolute).toBeLessThan(1e-5);
  });
});
