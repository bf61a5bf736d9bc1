import { describe, expect, it } from 'vitest';
import { rerankerScore } from '../../src/model/index.js';
import { ensembleOf, validateNet, type NetWeights } from '../../pipelines/fit-reranker.js';
import type { ImagePool } from '../../pipelines/reranker-pools.js';

const INPUTS = 3;
const HIDDEN = 2;
const standard = { inputs: INPUTS, mean: new Float32Array(INPUTS), std: new Float32Array(INPUTS).fill(1) };

function net(seed: number): NetWeights {
  const v = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7 + i * 3 + k) * 2);
  return { w1: v(INPUTS * HIDDEN, 0), b1: v(HIDDEN, 1), w2: v(HIDDEN, 2) };
}

describe('fitting the re-ranker', () => {
  it('stores an ensemble as one wider network whose score is the members\' mean', () => {
    const members = [net(1), net(2), net(3)];
    const merged = ensembleOf(members, INPUTS, HIDDEN);
    expect(merged.w1.length).toBe(INPUTS * HIDDEN * 3);
    for (const x of [[1, 0, -1], [0.5, 2, 0.25], [-3, 1, 1]].map((a) => Float32Array.from(a))) {
      const mean = members.reduce((s, m) => s + rerankerScore({ ...standard, hidden: HIDDEN, ...m }, x), 0) / members.length;
      expect(rerankerScore({ ...standard, hidden: 3 * HIDDEN, ...merged }, x)).toBeCloseTo(mean, 5);
    }
    expect(ensembleOf([members[0]!], INPUTS, HIDDEN)).toEqual(members[0]);
  });

  it("validates with the weight of the model's own score that chooses best", () => {
    // One feature, the network's score is that feature (relu passes it): it prefers candidate 0, the own score candidate 1.
    const identity = { ...standard, inputs: 1, mean: new Float32Array(1), std: Float32Array.from([1]), hidden: 1, w1: Float32Array.from([1]), b1: Float32Array.from([10]), w2: Float32Array.from([1]) };
    const pool = (right: 0 | 1): ImagePool => ({
      features: [Float32Array.from([1]), Float32Array.from([0])],
      scores: [-5, -1],
      rewards: [right === 0 ? 1 : 0, right === 1 ? 1 : 0],
      words: [['there', 'is', 'a', 'red', 'circle'], ['there', 'is', 'a', 'blue', 'square']],
      references: [right === 0 ? ['there', 'is', 'a', 'red', 'circle'] : ['there', 'is', 'a', 'blue', 'square']],
    });
    expect(validateNet([pool(0), pool(0)], identity, [0, 1])).toEqual({ w: 0, bleu4: expect.closeTo(1, 6) as number });
    expect(validateNet([pool(1), pool(1)], identity, [0, 1])).toEqual({ w: 1, bleu4: expect.closeTo(1, 6) as number });
  });
});
