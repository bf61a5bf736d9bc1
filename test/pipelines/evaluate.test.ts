import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { IMAGENET_PREPROCESS, Vocabulary, generateSynthetic, loadKarpathy, type KarpathyDataset } from '../../src/data/index.js';
import { scoreFiles } from '../../src/metrics/score-file.js';
import { Captioner } from '../../src/decoding/index.js';
import { ShowAttendTell, defaultModelConfig } from '../../src/model/index.js';
import { evaluate } from '../../pipelines/evaluate.js';

describe('evaluate', () => {
  let root: string;
  let data: KarpathyDataset;
  let jsonPath: string;
  let captioner: Captioner;

  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'evaluate-'));
    const ds = await generateSynthetic({ outDir: join(root, 'data'), count: 40, seed: 11 });
    jsonPath = ds.jsonPath;
    data = await loadKarpathy(ds.jsonPath, ds.imageDir);
    const vocab = Vocabulary.build(data.images.flatMap((im) => im.captions), 5);
    const model = ShowAttendTell.create(defaultModelConfig({ vocabSize: vocab.size, encoder: { kind: 'compact-cnn', channels: [8, 16, 16, 16] }, attentionDim: 16, embedDim: 16, decoderDim: 32 }), { seed: 2 });
    captioner = new Captioner(model, vocab, { ...IMAGENET_PREPROCESS, imageSize: 64 });
  });
  afterAll(async () => {
    captioner?.dispose();
    await rm(root, { recursive: true, force: true });
  });

  it('reports BLEU, CIDEr-D, stats, content accuracy and attention hit rate, and writes predictions that score identically', async () => {
    const before = tf.memory().numTensors;
    const predictionsPath = join(root, 'out', 'predictions.json');
    const report = await evaluate({ captioner, dataset: data, split: 'test', beamSize: 2, maxSteps: 12, backend: 'wasm', predictionsPath });
    expect(tf.memory().numTensors).toBe(before);
    const testCount = data.images.filter((im) => im.split === 'test').length;
    expect(report).toMatchObject({ modelId: captioner.modelId, dataset: data.name, split: 'test', beamSize: 2, lengthPenalty: 0, backend: 'wasm', images: testCount, skipped: [] });
    expect(report.captions.count).toBe(testCount);
    expect(report.content?.checked).toBe(testCount);
    expect(report.content!.accuracy).toBeGreaterThanOrEqual(0);
    // Complete captions are a subset of the correct ones.
    expect(report.content!.completeAccuracy).toBeLessThanOrEqual(report.content!.accuracy);
    expect(report.content!.objectCoverage).toBeGreaterThanOrEqual(0);
    expect(report.content!.objectCoverage).toBeLessThanOrEqual(1);
    expect(report.attention).toBeDefined();
    expect(report.unfinishedFraction).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    expect(await readdir(join(root, 'out'))).toEqual(['predictions.json']);
    // The predictions file is a valid `score --hyps` input and gives the same BLEU as the report.
    const scored = await scoreFiles({ hyps: predictionsPath, refs: jsonPath, split: 'test' });
    expect(scored.count).toBe(testCount);
    expect(scored.bleu1).toBeCloseTo(report.bleu.bleu1, 10);
    expect(scored.bleu4).toBeCloseTo(report.bleu.bleu4, 10);
    expect(scored.ciderD).toBeCloseTo(report.ciderD, 8);
  });

  it('lists an undecodable image as skipped and scores the rest', async () => {
    const test = data.images.filter((im) => im.split === 'test');
    const broken = join(root, 'broken.png');
    await writeFile(broken, 'not an image');
    const dataset = { name: 'mixed', images: [...test.slice(0, 2), { ...test[2]!, id: 'broken', path: broken }] };
    const report = await evaluate({ captioner, dataset, split: 'test', beamSize: 1, maxSteps: 8, backend: 'wasm' });
    expect(report.images).toBe(2);
    expect(report.skipped).toHaveLength(1);
    expect(report.skipped[0]).toMatchObject({ id: 'broken', file: broken });
    expect(['corrupt', 'unsupported']).toContain(report.skipped[0]!.reason);
  });

  it('with a length penalty, ranks beams by normalised log-prob: captions never get shorter, and the report says so', async () => {
    const plain = await evaluate({ captioner, dataset: data, split: 'test', beamSize: 3, maxSteps: 12, backend: 'wasm' });
    const normalised = await evaluate({ captioner, dataset: data, split: 'test', beamSize: 3, maxSteps: 12, lengthPenalty: 1, backend: 'wasm' });
    expect(normalised.lengthPenalty).toBe(1);
    // Same candidates, ranked by logProb/length: a shorter winner would need a higher normalised score.
    expect(normalised.captions.length.mean).toBeGreaterThanOrEqual(plain.captions.length.mean);
  });

  it('refuses an empty split and a bad beam size', async () => {
    await expect(evaluate({ captioner, dataset: { name: 'x', images: [] }, split: 'test', backend: 'wasm' })).rejects.toThrow(/no test images/);
    await expect(evaluate({ captioner, dataset: data, split: 'test', beamSize: 0, backend: 'wasm' })).rejects.toThrow(/beam size/);
  });
});
