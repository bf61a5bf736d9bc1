import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantiseAttention } from '../../src/protocol/messages.js';
import { toTrainFeed } from '../../pipelines/train-feed.js';
import type { TrainEvent } from '../../pipelines/train-events.js';

describe('toTrainFeed', () => {
  let dir: string;
  let png: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'train-feed-'));
    png = join(dir, 'p.png');
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#f00' } }).png().toFile(png);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('maps step, validation and end events onto protocol messages in order and drops the rest', async () => {
    const events: TrainEvent[] = [
      { type: 'train.start', epoch: 0, step: 0, resumed: false, epochs: 1, trainImages: 1, valImages: 1, stepsPerEpoch: 1, batchSize: 1, vocabSize: 5, parameters: 1, cacheImages: true, workers: 1 },
      { type: 'train.step', epoch: 0, step: 1, stepInEpoch: 1, stepsPerEpoch: 1, loss: 2, crossEntropy: 1.5, attentionPenalty: 0.5, learningRate: 1e-3, batchSize: 1, examplesPerSec: 3, etaSec: 4, durationMs: 5 },
      {
        type: 'train.validation', epoch: 0, bleu: [0.5, 0.4, 0.3, 0.2], bestBleu4: 0.2, bestEpoch: 0, epochsSinceImprovement: 0, learningRate: 1e-3,
        improved: true, lrDecayed: false, images: 1, skipped: 0, unfinishedFraction: 0, durationMs: 1,
        grounding: { hitRate: 0.5, contentAccuracy: 0.75, completeAccuracy: 0.25, objectCoverage: 0.9, images: 1 },
        probes: [
          { id: 'a', path: png, caption: 'a red square', words: ['a', 'red', 'square'], references: ['a red square'], gridSize: 2, attention: [[1, 0, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0, 1], [0.25, 0.25, 0.25, 0.25]] },
          { id: 'b', path: join(dir, 'gone.png'), caption: '', words: [], references: ['x'], gridSize: 2, attention: [] },
        ],
      },
      { type: 'train.checkpoint', epoch: 0, kind: 'best', dir },
      { type: 'train.end', reason: 'early-stopped', bestBleu4: 0.2, bestEpoch: 0, epochs: 1, steps: 1, durationMs: 10, bestDir: dir, lastDir: dir },
    ];
    const msgs = await lastValueFrom(from(events).pipe(toTrainFeed(32), toArray()));
    expect(msgs.map((m) => m.type)).toEqual(['train.step', 'train.validation', 'train.end']);
    for (const m of msgs) expect(m.v).toBe(1);
    expect(msgs[0]).toMatchObject({ epoch: 0, step: 1, loss: 2, crossEntropy: 1.5, attentionPenalty: 0.5, learningRate: 1e-3, examplesPerSec: 3, etaSec: 4 });
    const val = msgs[1]!;
    if (val.type !== 'train.validation') throw new Error('expected a validation message');
    expect(val.bleu).toEqual([0.5, 0.4, 0.3, 0.2]);
    expect(val.grounding).toEqual({ hitRate: 0.5, contentAccuracy: 0.75, completeAccuracy: 0.25, objectCoverage: 0.9, images: 1 });
    expect(val.probes[0]!.thumbnail).toMatch(/^data:image\/jpeg;base64,\/9j\//);
    const maps = dequantiseAttention(val.probes[0]!.attention, 2);
    expect(maps).toHaveLength(4);
    expect(Array.from(maps[1]!)).toEqual([0, 1, 1, 0]);
    expect(val.probes[1]).toMatchObject({ thumbnail: '', attention: '' });
    expect(msgs[2]).toMatchObject({ reason: 'early-stopped', bestBleu4: 0.2, epochs: 1 });
    expect(JSON.parse(JSON.stringify(msgs))).toEqual(msgs);
  });
});
