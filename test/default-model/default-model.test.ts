import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { checkCaption, prepareImage } from '../../src/data/index.js';
import { DEFAULT_MODEL_DIR, modelDirOrDefault } from '../../src/cli/default-model.js';
import { evaluate } from '../../pipelines/evaluate.js';
import { expectModelBars, FRESH_SCENES, useBundledModel } from './bundled-model.js';

const shipped = fileURLToPath(new URL('../../models/default', import.meta.url));

describe('the shipped default model', () => {
  const fixture = useBundledModel(shipped);

  it('is what commands use without --model, with its weights, vocabulary and config in the repository', async () => {
    expect(DEFAULT_MODEL_DIR).toBe(shipped);
    expect(await modelDirOrDefault(undefined)).toBe(shipped);
    for (const f of ['model.json', 'weights.bin', 'vocabulary.json', 'preprocess.json', 'README.md']) expect(existsSync(join(shipped, f)), f).toBe(true);
    const { captioner } = fixture;
    expect(captioner.preprocess.imageSize).toBe(64);
    expect(captioner.model.config.encoder).toMatchObject({ kind: 'compact-cnn', coordChannels: true });
    expect(captioner.model.config.wordDetector).toBe(true);
    expect(captioner.model.config.phrases).toHaveLength(96);
  });

  it('captions fresh synthetic scenes with finished, parseable captions of the grammar, without leaking tensors', async () => {
    const { captioner, data } = fixture;
    const ims = data.images.slice(0, 4);
    const before = tf.memory().numTensors;
    const results = await captioner.caption(await Promise.all(ims.map((im) => prepareImage(im.path, captioner.preprocess))), { beamSize: 4, maxSteps: 30 });
    expect(tf.memory().numTensors).toBe(before);
    results.forEach((r, i) => {
      expect(r.best.finished).toBe(true);
      expect(r.best.attention.length).toBe(r.best.words.length + 1);
      // Wrong claims are allowed here (see the floors below); a caption outside the grammar is not.
      expect(checkCaption(r.best.words, ims[i]!.objects!, ims[i]!.width!).errors.join(';'), r.caption).not.toMatch(/unparseable/);
    });
  });

  // The bars of the default model (content >= 0.95, hit rate >= 0.90; models/default/README.md has
  // the full measurement on fresh seeds), so a broken model, checkpoint, decoder or re-scorer fails.
  it('reaches its bars on 300 fresh scenes at beam 4 (content accuracy, attention hit rate)', async () => {
    const { captioner, data: all } = fixture;
    const r = await evaluate({ captioner, dataset: all, split: 'test', beamSize: 4, backend: 'wasm' });
    expect(r.images).toBe(FRESH_SCENES);
    expectModelBars(r);
  });
});
