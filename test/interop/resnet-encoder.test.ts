import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';
import { prepareImage } from '../../src/data/preprocess.js';
import { REFERENCE_PREPROCESS } from '../../src/interop/import-checkpoint.js';
import { readPth, type TorchTensor } from '../../src/interop/pth.js';
import { assignResnetWeights, resnetOptionsOf, torchvisionKeys } from '../../src/interop/resnet-weights.js';
import { defaultModelConfig } from '../../src/model/config.js';
import { resnetOutputDim, RESNET_DEPTHS } from '../../src/model/resnet-encoder.js';
import { ShowAttendTell } from '../../src/model/show-attend-tell.js';
import { compare, FIXTURES, loadOutputs } from './pytorch-fixtures.js';

const { tensor } = loadOutputs();
const FILE = path.join(FIXTURES, 'resnet_basic_tiny.pth');

beforeAll(async () => {
  await initBackend(SUITE_BACKEND);
});

async function basicModel(fineTune: boolean, gridSize: number): Promise<ShowAttendTell> {
  const sd = torchvisionKeys((await readPth(FILE)).root as Map<string, TorchTensor>);
  const options = resnetOptionsOf(FILE, sd);
  const encoder = { kind: 'resnet' as const, ...options, fineTune };
  const model = ShowAttendTell.create(defaultModelConfig({ encoder, gridSize, encoderDim: resnetOutputDim(options), vocabSize: 8 }));
  assignResnetWeights(FILE, model, sd);
  return model;
}

describe('ResnetEncoder from a torchvision state_dict', () => {
  it('reads the BasicBlock architecture from the keys and matches PyTorch layer4 within 1e-4', async () => {
    const model = await basicModel(false, 8);
    expect(model.config.encoder).toMatchObject({ block: 'basic', layers: [2, 1, 1, 1], widths: [8, 8, 16, 16], stem: 8 });
    const img = await prepareImage(path.join(FIXTURES, 'street.png'), REFERENCE_PREPROCESS);
    const x = tf.tensor4d(img.pixels, [1, 256, 256, 3]);
    const out = model.encode(x);
    const want = tensor('basic/street.png/layer4');
    expect(compare(await out.data(), want.values).relative).toBeLessThan(1e-4);
    tf.dispose([x, out]);
    model.dispose();
  });

  it('fine-tuning trains stages 2-4 only, with frozen BN statistics (training output = inference output)', async () => {
    const frozen = await basicModel(false, 14);
    const tuned = await basicModel(true, 14);
    expect(frozen.encoderVariables()).toHaveLength(0);
    expect(frozen.namedWeights().filter((w) => w.name.startsWith('encoder/')).length).toBeGreaterThan(0);
    const names = tuned.encoderVariables().map((v) => v.name);
    expect(names.some((n) => n.startsWith('encoder/resnet/layer1.') || n.startsWith('encoder/resnet/conv1') || n.includes('running_'))).toBe(false);
    expect(names).toContain('encoder/resnet/layer2.0.conv1.weight');
    expect(names).toContain('encoder/resnet/layer4.0.bn2.bias');
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const a = frozen.encode(x, false);
    const b = tuned.encode(x, true);
    expect(compare(await b.data(), await a.data()).relative).toBeLessThan(1e-5);
    const loss = () => tf.mean(tuned.encode(x, true)) as tf.Scalar;
    const { grads } = tf.variableGrads(loss, tuned.encoderVariables().map((v) => v.variable));
    expect(Object.keys(grads)).toHaveLength(names.length);
    tf.dispose([x, a, b, ...Object.values(grads)]);
    frozen.dispose();
    tuned.dispose();
  });

  it('knows torchvision\'s standard depths', () => {
    expect(RESNET_DEPTHS[101]).toEqual({ block: 'bottleneck', layers: [3, 4, 23, 3] });
    expect(resnetOutputDim({ block: 'bottleneck' })).toBe(2048);
    expect(resnetOutputDim({ block: 'basic' })).toBe(512);
  });
});
