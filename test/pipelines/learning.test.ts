import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/backend/index.js';
import { IMAGENET_PREPROCESS, Vocabulary, generateSynthetic, loadKarpathy, type KarpathyDataset } from '../../src/data/index.js';
import { Captioner, loadCaptioner } from '../../src/decoding/index.js';
import { ShowAttendTell, defaultModelConfig } from '../../src/model/index.js';
import { evaluate } from '../../pipelines/evaluate.js';
import { trainPipeline } from '../../pipelines/train.js';
import type { TrainEvent } from '../../pipelines/train-events.js';

/** The small model the demo trains. */
const model = { encoder: { kind: 'compact-cnn' as const, channels: [16, 32, 64, 64] }, attentionDim: 64, embedDim: 48, decoderDim: 128, dropout: 0.2 };

describe('learning: a small model on a small synthetic set', () => {
  let root: string;
  let data: KarpathyDataset;
  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'learning-'));
    const ds = await generateSynthetic({ outDir: join(root, 'data'), count: 400, seed: 5 });
    data = await loadKarpathy(ds.jsonPath, ds.imageDir);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reaches a test BLEU-4 far above an untrained model within 60 steps', async () => {
    const outDir = join(root, 'model');
    const events: TrainEvent[] = await lastValueFrom(
      trainPipeline({ dataset: data, outDir, epochs: 6, batchSize: 32, valLimit: 40, beamSize: 1, seed: 1, model, trainer: { decoderLr: 3e-3, encoderLr: 1.5e-3 } }).pipe(toArray()),
    );
    const epochs = events.filter((e) => e.type === 'train.epoch');
    expect(epochs).toHaveLength(6);
    expect(epochs.at(-1)!.meanLoss).toBeLessThan(epochs[0]!.meanLoss - 0.8);

    const vocab = Vocabulary.build(data.images.flatMap((im) => im.captions), 5);
    const untrained = new Captioner(ShowAttendTell.create(defaultModelConfig({ ...model, vocabSize: vocab.size }), { seed: 1 }), vocab, { ...IMAGENET_PREPROCESS, imageSize: 64 });
    const trained = await loadCaptioner(join(outDir, 'best'));
    try {
      const opts = { dataset: data, split: 'test' as const, beamSize: 3, maxSteps: 20, backend: 'wasm' };
      const before = await evaluate({ captioner: untrained, ...opts });
      const after = await evaluate({ captioner: trained, ...opts });
      console.log(`untrained BLEU-4 ${before.bleu.bleu4.toFixed(3)}, trained BLEU-4 ${after.bleu.bleu4.toFixed(3)}, content accuracy ${after.content?.accuracy.toFixed(3)}`);
      expect(before.bleu.bleu4).toBeLessThan(0.02);
      expect(after.bleu.bleu4).toBeGreaterThan(0.1);
      expect(after.bleu.bleu1).toBeGreaterThan(before.bleu.bleu1 + 0.2);
    } finally {
      untrained.dispose();
      trained.dispose();
    }
  }, 300_000); // ~45-100 s alone on 2 cores; far more when other test files compete for them
});
