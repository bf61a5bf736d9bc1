import { describe, expect, it } from 'vitest';
import { scoreText } from '../../dashboards/src/format.js';

describe('dashboard caption score', () => {
  it('calls the score a log-prob only when it is one, and shows both when the detector re-ranked the beams', () => {
    expect(scoreText({ score: -1.23456 })).toBe('-1.235 (log-prob)');
    expect(scoreText({ score: -1.23456, logProb: -1.23456 })).toBe('-1.235 (log-prob)');
    expect(scoreText({ score: -2.5, logProb: -1.25 })).toBe('-2.500 (log-prob -1.250, re-ranked by the word detector)');
  });
});
