import { describe, expect, it } from 'vitest';
import { describeEvent } from '../../src/cli/train-progress.js';
import type { TrainValidationEvent } from '../../pipelines/train-events.js';

const validation: TrainValidationEvent = {
  type: 'train.validation', epoch: 2, bleu: [0.9, 0.8, 0.7, 0.6], bestBleu4: 0.6, bestEpoch: 2, epochsSinceImprovement: 0, learningRate: 1e-3,
  improved: true, lrDecayed: false, images: 150, skipped: 0, unfinishedFraction: 0, durationMs: 1, probes: [],
};

describe('training progress lines', () => {
  it('reports validation BLEU, and the scene figures when the data set has annotations', () => {
    expect(describeEvent(validation)).toBe('epoch 3 validation: BLEU-1..4 90.00 / 80.00 / 70.00 / 60.00 (best so far)');
    const grounded = describeEvent({ ...validation, grounding: { hitRate: 0.642, contentAccuracy: 0.705, completeAccuracy: 0.7, objectCoverage: 1, images: 150 } });
    expect(grounded).toContain('\n  scenes: content 70.50, complete 70.00, objects named 100.00, attention hits 64.20');
  });
});
