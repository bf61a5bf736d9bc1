import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { adaptiveAvgPoolToGrid } from '../../src/model/adaptive-pool.js';
import {
  ShowAttendTell,
  Trainer,
  defaultModelConfig,
  fileSystemSaver,
  loadCheckpoint,
  saveCheckpoint,
  type ModelConfig,
} from '../../src/model/index.js';
import { noise, tinyVocab } from './helpers.js';

const vocab = tinyVocab();
let tmp: string;
let backboneDir: string;
let backbone: tf.Sequential;
let images: tf.Tensor4D;

const configFor = (fineTune: boolean): ModelConfig =>
  defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'external', path: backboneDir, featureOutput: 'feat', fineTune }, encoderDim: 12, gridSize: 4, attentionDim: 8, embedDim: 8, decoderDim: 16 });

const batch = () => {
  const e = vocab.encode(['a', 'red', 'square'], 3);
  return { batchSize: 2, imageSize: 16, maxLen: 3, images: images.dataSync() as Float32Array, captions: Int32Array.from([...e.ids, ...e.ids]), lengths: Int32Array.from([e.length, e.length]), ids: [] };
};

beforeAll(async () => {
  await initBackend();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sat-ext-'));
  backboneDir = path.join(tmp, 'backbone');
  // A tiny "pretrained" conv net, saved as a tfjs LayersModel (model.json + weights.bin) with our fs handler.
  backbone = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }),
      tf.layers.conv2d({ filters: 12, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'feat' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 5, name: 'logits' }),
    ],
  });
  await backbone.save(fileSystemSaver(backboneDir));
  images = tf.tensor4d(noise(2 * 16 * 16 * 3, 1), [2, 16, 16, 3]);
});

afterAll(async () => {
  backbone.dispose();
  images.dispose();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('external encoder loaded from a local directory', () => {
  it('writes model.json and a weight shard, and cuts the backbone at the named output', async () => {
    expect((await fs.readdir(backboneDir)).sort()).toEqual(['model.json', 'weights.bin']);
    const model = await ShowAttendTell.load(configFor(false));
    const f = model.encode(images);
    expect(f.shape).toEqual([2, 16, 12]);
    const expected = tf.tidy(() => {
      const cut = tf.model({ inputs: backbone.inputs, outputs: backbone.getLayer('feat').output as tf.SymbolicTensor });
      return adaptiveAvgPoolToGrid(cut.predict(images) as tf.Tensor4D, 4);
    });
    const a = f.dataSync();
    const b = expected.dataSync();
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 5);
    tf.dispose([f, expected]);
    model.dispose();
  });

  it('frozen: no encoder weights are trained; the features stay the same across a step', async () => {
    const model = await ShowAttendTell.load(configFor(false));
    expect(model.encoderTrainable).toBe(false);
    expect(model.encoderVariables()).toEqual([]);
    const before = model.encode(images);
    const trainer = new Trainer(model, { decoderLr: 1e-2, encoderLr: 1e-2, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1 });
    await trainer.step(batch());
    const after = model.encode(images);
    expect(Array.from(after.dataSync())).toEqual(Array.from(before.dataSync()));
    tf.dispose([before, after]);
    trainer.dispose();
    model.dispose();
  });

  it('fine-tuned: its weights join the encoder group, change with training and survive a checkpoint', async () => {
    const model = await ShowAttendTell.load(configFor(true));
    expect(model.encoderVariables().map((v) => v.name)).toEqual(['encoder/external/0/c1/kernel', 'encoder/external/1/c1/bias', 'encoder/external/2/feat/kernel', 'encoder/external/3/feat/bias']);
    const before = model.encode(images);
    const trainer = new Trainer(model, { decoderLr: 1e-2, encoderLr: 1e-2, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1 });
    await trainer.step(batch());
    const after = model.encode(images);
    expect(Array.from(after.dataSync())).not.toEqual(Array.from(before.dataSync()));
    const dir = path.join(tmp, 'ckpt');
    await saveCheckpoint(dir, { model, vocab, preprocess: { imageSize: 16, mean: [0, 0, 0], std: [1, 1, 1] } });
    const loaded = await loadCheckpoint(dir);
    const again = loaded.model.encode(images);
    const a = after.dataSync();
    const b = again.dataSync();
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i]!, 6);
    tf.dispose([before, after, again]);
    trainer.dispose();
    model.dispose();
    loaded.model.dispose();
  });

  it('explains a wrong output name or directory', async () => {
    await expect(ShowAttendTell.load({ ...configFor(false), encoder: { kind: 'external', path: backboneDir, featureOutput: 'nope', fineTune: false } })).rejects.toThrow(
      /"nope" is not a layer .*layers: c1, feat, flat, logits/,
    );
    await expect(ShowAttendTell.load({ ...configFor(false), encoder: { kind: 'external', path: path.join(tmp, 'missing'), featureOutput: 'feat', fineTune: false } })).rejects.toThrow(/no readable model\.json/);
    expect(() => ShowAttendTell.create(configFor(false))).toThrow(/ShowAttendTell\.load/);
  });

  it('also takes a GraphModel (converter format) cut at a named node, frozen only', async () => {
    // A hand-written converter-format graph: images -> Conv2D(stride 2) -> Relu named "feat".
    const dir = path.join(tmp, 'graph');
    await fs.mkdir(dir);
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const dims = (...d: number[]) => ({ dim: d.map((size) => ({ size: String(size) })) });
    const json = {
      format: 'graph-model',
      generatedBy: 'test',
      convertedBy: 'test',
      modelTopology: {
        node: [
          { name: 'images', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: dims(-1, 16, 16, 3) } } },
          { name: 'kernel', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dims(3, 3, 3, 12) } } } },
          {
            name: 'conv',
            op: 'Conv2D',
            input: ['images', 'kernel'],
            attr: { T: { type: 'DT_FLOAT' }, strides: { list: { i: ['1', '2', '2', '1'] } }, padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') }, dilations: { list: { i: ['1', '1', '1', '1'] } } },
          },
          { name: 'feat', op: 'Relu', input: ['conv'], attr: { T: { type: 'DT_FLOAT' } } },
        ],
        library: {},
        versions: { producer: 1 },
      },
      weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: [{ name: 'kernel', shape: [3, 3, 3, 12], dtype: 'float32' }] }],
    };
    const kernel = noise(3 * 3 * 3 * 12, 8);
    await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
    await fs.writeFile(path.join(dir, 'group1-shard1of1.bin'), Buffer.from(kernel.buffer));
    const config = { ...configFor(false), encoder: { kind: 'external' as const, path: dir, featureOutput: 'feat', fineTune: false } };
    const model = await ShowAttendTell.load(config);
    const f = model.encode(images);
    const expected = tf.tidy(() => adaptiveAvgPoolToGrid(tf.relu(tf.conv2d(images, tf.tensor4d(kernel, [3, 3, 3, 12]), 2, 'same')) as tf.Tensor4D, 4));
    const a = f.dataSync();
    const b = expected.dataSync();
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 5);
    tf.dispose([f, expected]);
    model.dispose();
    await expect(ShowAttendTell.load({ ...config, encoder: { ...config.encoder, fineTune: true } })).rejects.toThrow(/GraphModel's weights are constants/);
    const wrong = await ShowAttendTell.load({ ...config, encoder: { ...config.encoder, featureOutput: 'nope' } });
    expect(() => wrong.encode(images)).toThrow(/"nope" is not a node of the GraphModel/);
    wrong.dispose();
  });
});
