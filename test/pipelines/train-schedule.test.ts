import { describe, expect, it } from 'vitest';
import { annealFactor, REFERENCE_SCHEDULE, initialSchedule, nextSchedule, validateSchedule, type ScheduleState } from '../../pipelines/train-schedule.js';

function run(scores: number[], o = REFERENCE_SCHEDULE) {
  let s: ScheduleState = initialSchedule();
  const log: Array<{ improved: boolean; decayed: boolean; stop: boolean; since: number; lrScale: number }> = [];
  for (const [epoch, b] of scores.entries()) {
    const d = nextSchedule(s, epoch, b, o);
    s = d.state;
    log.push({ improved: d.improved, decayed: d.decayed, stop: d.stop, since: s.epochsSinceImprovement, lrScale: s.lrScale });
    if (d.stop) break;
  }
  return { s, log };
}

describe('nextSchedule', () => {
  it('the first validation always improves, even with BLEU-4 = 0', () => {
    const { s, log } = run([0]);
    expect(log[0]!.improved).toBe(true);
    expect(s.bestBleu4).toBe(0);
    expect(s.bestEpoch).toBe(0);
  });

  it('decays x0.8 at 8 and 16 epochs without improvement and stops at 20 (reference values)', () => {
    const { s, log } = run([0.2, ...Array(30).fill(0.1)]);
    expect(log.length).toBe(21);
    expect(log.filter((l) => l.decayed).map((l) => l.since)).toEqual([8, 16]);
    expect(log.at(-1)!.stop).toBe(true);
    expect(log.at(-1)!.since).toBe(20);
    expect(s.lrScale).toBeCloseTo(0.64, 10);
    expect(s.bestEpoch).toBe(0);
  });

  it('an improvement resets the counter but keeps the decayed learning rate', () => {
    const { s, log } = run([0.1, 0.1, 0.1, 0.2, 0.2, 0.2], { patience: 10, decayEvery: 2, decayFactor: 0.5 });
    expect(log.map((l) => l.since)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(log.map((l) => l.decayed)).toEqual([false, false, true, false, false, true]);
    expect(s.lrScale).toBe(0.25);
    expect(s.bestBleu4).toBe(0.2);
    expect(s.bestEpoch).toBe(3);
  });

  it('a tie is not an improvement', () => {
    const { log } = run([0.3, 0.3]);
    expect(log[1]!.improved).toBe(false);
  });

  it('stop takes precedence over decay when both fall on the same epoch', () => {
    const { log } = run([0.5, 0.1, 0.1, 0.1, 0.1], { patience: 4, decayEvery: 2, decayFactor: 0.5 });
    expect(log.at(-1)).toMatchObject({ stop: true, decayed: false, since: 4 });
  });

  it('validates options with messages that name them', () => {
    expect(() => validateSchedule({ patience: 0, decayEvery: 8, decayFactor: 0.8 })).toThrow(/patience/);
    expect(() => validateSchedule({ patience: 20, decayEvery: 1.5, decayFactor: 0.8 })).toThrow(/decayEvery/);
    expect(() => validateSchedule({ patience: 20, decayEvery: 8, decayFactor: 1.2 })).toThrow(/decayFactor/);
    expect(() => validateSchedule(REFERENCE_SCHEDULE)).not.toThrow();
  });
});

describe('annealFactor', () => {
  it('follows a cosine from 1 to the floor over the budget and stays at the floor after it', () => {
    expect(annealFactor(0, 30, 0.05)).toBe(1);
    expect(annealFactor(15, 30, 0.05)).toBeCloseTo(0.525, 10);
    expect(annealFactor(30, 30, 0.05)).toBeCloseTo(0.05, 10);
    expect(annealFactor(45, 30, 0.05)).toBeCloseTo(0.05, 10);
    const xs = [0, 5, 10, 20, 29].map((m) => annealFactor(m, 30, 0));
    expect(xs).toEqual([...xs].sort((a, b) => b - a));
  });
});
