import { describe, expect, it } from 'vitest';
import { captionStats } from '../../src/metrics/caption-stats.js';

describe('captionStats', () => {
  it('computes length statistics, distinct words, vocabulary usage and unfinished fraction', () => {
    const caps = [['a', 'red', 'circle'], ['a', 'blue', 'square', 'and', 'a', 'circle'], ['a'], ['red', 'red']];
    const s = captionStats(caps, { vocabularySize: 20, unfinished: [false, true, false, false] });
    expect(s).toEqual({
      count: 4,
      length: { mean: 3, median: 2.5, min: 1, max: 6 },
      distinctWords: 6,
      vocabularyUsage: 6 / 20,
      unfinishedFraction: 0.25,
    });
  });

  it('takes the middle length for an odd count and omits optional fields when not asked', () => {
    const s = captionStats([['a'], ['a', 'b', 'c'], ['a', 'b']]);
    expect(s.length.median).toBe(2);
    expect(s).not.toHaveProperty('vocabularyUsage');
    expect(s).not.toHaveProperty('unfinishedFraction');
  });

  it('returns zeros for no captions', () => {
    expect(captionStats([], { unfinished: [] })).toEqual({
      count: 0, length: { mean: 0, median: 0, min: 0, max: 0 }, distinctWords: 0, unfinishedFraction: 0,
    });
  });

  it('rejects mismatched flags and a bad vocabulary size', () => {
    expect(() => captionStats([['a']], { unfinished: [] })).toThrow(/0 unfinished flags for 1 captions/);
    expect(() => captionStats([['a']], { vocabularySize: 0 })).toThrow(/positive integer/);
  });
});
