import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { checkCaption, prepareImage } from '../../src/data/index.js';
import { DEFAULT_MODEL_DIR, modelDirOrDefault } from '../../src/cli/default-model.js';
import { evaluate } from '../../pipelines/evaluate.js';
import { expectIssueBars, useBundledModel } from './bundled-model.js';

const shipped = fileURLToPath(new URL('../../models/default', import.meta.url));

describe('the shipped default model', () => {
  const fixture = useBundledModel(shipped);

  it('is what commands use without --model, with its weights, vocabulary and config in the repository', async () => {
    expect(DEFAULT_MODEL_DIR).toBe(shipped);
    expect(await modelDirOrDefault(undefined)).toBe(shipped);
    for (const f of ['model.json', 'weights.bin', 'vocabulary.json', 'preprocess.json', 'reranker.json', 'README.md']) expect(existsSync(join(shipped, f)), f).toBe(true);
    const { captioner } = fixture;
    // The learned re-ranker was trained for exactly these weights (loadCheckpoint refuses it otherwise).
    expect(captioner.model.reranker?.modelId).toBe(captioner.modelId);
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

  // The shipped model reaches the issue's bars (models/default/README.md: on 500 fresh scenes of seed
  // 6067 at beam 4, with the learned re-ranker as by default, content 0.976, complete + correct 0.974,
  // hit rate 0.951, BLEU-4 0.962; on these 60 scenes 1.000, 1.000, 0.973 (colour 0.969, shape 0.977),
  // 0.991, and BLEU-4 0.928 without the re-ranker). The floors are the issue's bars (content 0.95, hit
  // rate 0.85, BLEU-4 0.95), each below what was measured here, so a broken model, checkpoint, decoder
  // or re-ranker fails.
  it("reaches the issue's bars on 60 fresh scenes at beam 4 (content, completeness, attention hit rate, BLEU-4)", async () => {
    const { captioner, data: all } = fixture;
    const r = await evaluate({ captioner, dataset: all, split: 'test', beamSize: 4, backend: 'wasm' });
    expect(r.images).toBe(60);
    expect(r.learnedRerank).toBe(true);
    expectIssueBars(r);
    // Without the re-ranker, the model's own choice matches fewer references word for word.
    const own = await evaluate({ captioner, dataset: all, split: 'test', beamSize: 4, backend: 'wasm', learnedRerank: false });
    expect(own.learnedRerank).toBe(false);
    expect(r.bleu.bleu4).toBeGreaterThan(own.bleu.bleu4 + 0.01);
  });
});
