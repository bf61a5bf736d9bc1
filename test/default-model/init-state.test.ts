import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { IMAGENET_PREPROCESS, Vocabulary } from '../../src/data/index.js';
import { ShowAttendTell, defaultModelConfig, loadCheckpoint, saveCheckpoint } from '../../src/model/index.js';
import { initialState } from '../../src/model/decoder.js';

// 'bias' starts the LSTM from learned biases instead of a projection of the mean annotation ('mean',
// the reference and the default model's choice): with the mean the decoder knows every object before
// it attends anywhere, which makes captions name every object but lets attention drift
// (docs/research-history.md).
describe('initState', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it("'bias' starts every image from the same learned state; 'mean' (the default) from its annotations", () => {
    const model = ShowAttendTell.create(defaultModelConfig({ vocabSize: 10, initState: 'bias', encoder: { kind: 'compact-cnn', channels: [4, 6] }, decoderDim: 8 }), { seed: 1 });
    expect(model.config.initState).toBe('bias');
    const a = tf.randomNormal([2, 64, 6], 0, 1, 'float32', 1) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const s = tf.tidy(() => {
      const { h, c } = initialState(model.decoder, a, 'bias');
      const m = initialState(model.decoder, a, 'mean');
      return [h, c, m.h];
    });
    expect(tf.memory().numTensors).toBe(before + 3);
    const [h, c, hm] = s.map((t) => t.arraySync() as number[][]);
    expect(h![0]).toEqual(h![1]);
    expect(h![0]).toEqual(Array.from(model.decoder.initHBias.dataSync()));
    expect(c![0]).toEqual(Array.from(model.decoder.initCBias.dataSync()));
    expect(hm![0]).not.toEqual(hm![1]);
    tf.dispose([...s, a]);
    model.dispose();
    expect(defaultModelConfig({ vocabSize: 10 }).initState ?? 'mean').toBe('mean');
  });

  it('is validated and survives a checkpoint round trip', async () => {
    expect(() => defaultModelConfig({ vocabSize: 10, initState: 'zero' as never })).toThrow(/initState/);
    const vocab = Vocabulary.build([['a', 'b']], 0);
    const model = ShowAttendTell.create(defaultModelConfig({ vocabSize: vocab.size, initState: 'bias', encoder: { kind: 'compact-cnn', channels: [4, 6] } }), { seed: 1 });
    const dir = await mkdtemp(join(tmpdir(), 'init-state-'));
    try {
      await saveCheckpoint(join(dir, 'm'), { model, vocab, preprocess: { ...IMAGENET_PREPROCESS, imageSize: 32 } });
      const back = await loadCheckpoint(join(dir, 'm'));
      expect(back.model.config.initState).toBe('bias');
      back.model.dispose();
    } finally {
      model.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
