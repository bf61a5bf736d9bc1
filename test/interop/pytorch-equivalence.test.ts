import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';
import { prepareImage } from '../../src/data/preprocess.js';
import { importCheckpoint, REFERENCE_PREPROCESS, type ImportedModel } from '../../src/interop/import-checkpoint.js';
import { beamSearch } from '../../src/decoding/index.js';
import { compare, FIXTURES, loadOutputs, teacherForced } from './pytorch-fixtures.js';

const { meta, tensor } = loadOutputs();
const images = Object.keys(meta.images);
let imported: ImportedModel;
const features = new Map<string, tf.Tensor3D>();

beforeAll(async () => {
  await initBackend(SUITE_BACKEND);
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

describe('the bare beam search on an imported checkpoint finds what the reference beam search found', () => {
  const cases = images.flatMap((name) => [1, 3, 5].flatMap((k) => [50, 2].map((cap) => [name, k, cap] as const)));
  it.each(cases)('%s at k = %i, step cap %i: same caption, score within 1e-4, attention within 1e-5', async (name, k, cap) => {
    const want = meta.captions[name]![`k${k}_cap${cap}`]!;
    // The reference's loop ends "if step > cap: break" after the step's work: cap + 1 tokens at most.
    const [result] = await beamSearch(imported.model, features.get(name)!, imported.vocab, { beamSize: k, maxSteps: cap + 1 });
    const best = result!.best;
    expect(best.ids).toEqual(want.ids);
    expect(best.finished).toBe(want.finished);
    expect(Math.abs(best.logProb - want.score)).toBeLessThan(1e-4);
    const alphas = tensor(`${name}/k${k}_cap${cap}/alphas`);
    expect(best.attention).toHaveLength(alphas.shape[0]!);
    const got = new Float32Array(best.attention.length * 196);
    best.attention.forEach((a, i) => got.set(a, i * 196));
    expect(compare(got, alphas.values).absolute).toBeLessThan(1e-5);
  });

  it('covers beams that finish, beams cut by the step cap with nothing finished, and k changing the result', () => {
    const all = Object.values(meta.captions).flatMap((c) => Object.entries(c).filter(([key]) => key !== 'teacher_ids').map(([, v]) => v as { finished: boolean }));
    expect(all.some((c) => c.finished)).toBe(true);
    expect(all.some((c) => !c.finished)).toBe(true);
    expect(meta.captions['street.png']!['k1_cap50']!.ids).not.toEqual(meta.captions['street.png']!['k3_cap50']!.ids);
    expect(meta.min_rank_gap).toBeGreaterThan(1e-3);
  });
});
