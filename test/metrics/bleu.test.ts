import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { corpusBleu, fsum, stripSpecialTokens } from '../../src/metrics/bleu.js';

interface BleuCase {
  name: string;
  hypotheses: string[][];
  references: string[][][];
  bleu: number[];
  precisions: number[];
  brevityPenalty: number;
  hypLength: number;
  refLength: number;
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/metrics/bleu.json', import.meta.url), 'utf8'),
) as { cases: BleuCase[] };

/** Relative 1e-9 so that NLTK's tiny non-zero BLEU values (1e-78...) are checked too; exact for 0. */
function close(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= 1e-9 * Math.max(Math.abs(expected), Number.MIN_VALUE);
}

const sent = (s: string): string[] => s.split(' ');

describe('corpusBleu, hand-computed', () => {
  it('scores an identical caption 1 at every order', () => {
    const r = corpusBleu([sent('a cat on a mat')], [[sent('a cat on a mat')]]);
    expect(r.bleu).toEqual([1, 1, 1, 1]);
    expect(r.brevityPenalty).toBe(1);
  });

  it('clips repeated words by the max count in one reference and applies the brevity penalty', () => {
    // hyp "the the the" vs refs "the cat" / "the the dog": unigram max count of "the" is 2 -> p1 = 2/3.
    // bigrams: hyp (the the)x2, ref2 has it once -> p2 = 1/2. closest ref length to 3 is 3 -> BP 1.
    const r = corpusBleu([sent('the the the')], [[sent('the cat'), sent('the the dog')]]);
    expect(r.precisions[0]).toBeCloseTo(2 / 3, 15);
    expect(r.precisions[1]).toBeCloseTo(1 / 2, 15);
    expect(r.bleu[0]).toBeCloseTo(2 / 3, 15);
    expect(r.bleu[1]).toBeCloseTo(Math.sqrt((2 / 3) * (1 / 2)), 15);
    expect(r.brevityPenalty).toBe(1);
  });

  it('sums counts over the corpus before dividing (not an average of sentence scores)', () => {
    const r = corpusBleu([sent('a b'), sent('x y z w')], [[sent('a b')], [sent('x q r s')]]);
    expect(r.precisions[0]).toBeCloseTo(3 / 6, 15);
    expect(r.precisions[1]).toBeCloseTo(1 / 4, 15);
    expect(r.bleu[1]).toBeCloseTo(Math.sqrt(0.5 * 0.25), 15);
  });

  it('breaks a tie in closest reference length towards the shorter reference', () => {
    // hyp length 5, refs of length 4 and 6: r = 4, so hyp is longer -> BP 1 (6 would give exp(1-6/5)).
    const r = corpusBleu([sent('a b c d e')], [[sent('a b c d'), sent('a b c d e f')]]);
    expect(r.refLength).toBe(4);
    expect(r.brevityPenalty).toBe(1);
  });

  it('uses exp(1 - r/c) when the hypotheses are shorter', () => {
    const r = corpusBleu([sent('a b')], [[sent('a b c d')]]);
    expect(r.brevityPenalty).toBeCloseTo(Math.exp(1 - 4 / 2), 15);
    expect(r.bleu[0]).toBeCloseTo(Math.exp(-1), 15);
  });

  it('returns exactly 0 when no unigram matches anywhere', () => {
    expect(corpusBleu([sent('x y')], [[sent('a b')]]).bleu).toEqual([0, 0, 0, 0]);
  });

  it('gives a tiny non-zero BLEU-4 when only 4-grams are missing (NLTK substitutes the smallest normal double)', () => {
    const r = corpusBleu([sent('a b c')], [[sent('a b c d')]]);
    // p1..p3 = 1, p4 = 0/1 -> 2.2250738585072014e-308; BP = exp(1 - 4/3).
    const expected = Math.exp(1 - 4 / 3) * Math.exp(0.25 * Math.log(2.2250738585072014e-308));
    expect(r.bleu[2]).toBeCloseTo(Math.exp(1 - 4 / 3), 15);
    expect(r.bleu[3]).toBeGreaterThan(0);
    expect(close(r.bleu[3], expected)).toBe(true);
  });

  it('counts a denominator of 1 for hypotheses shorter than n', () => {
    const r = corpusBleu([sent('a'), sent('a b c d e')], [[sent('a')], [sent('a b c d e')]]);
    // 4-grams: 0/1 from the first sentence + 2/2 from the second -> 2/3.
    expect(r.precisions[3]).toBeCloseTo(2 / 3, 15);
  });

  it('rejects bad input with a message saying what to fix', () => {
    expect(() => corpusBleu([], [])).toThrow(/empty corpus/);
    expect(() => corpusBleu([['a']], [])).toThrow(/1 hypotheses but 0 reference sets/);
    expect(() => corpusBleu([['a']], [[]])).toThrow(/hypothesis 0 has no references/);
  });
});

describe('stripSpecialTokens', () => {
  it('removes <start>, <end> and <pad> but keeps <unk>', () => {
    expect(stripSpecialTokens(['<start>', 'a', '<unk>', 'dog', '<end>', '<pad>', '<pad>'])).toEqual(['a', '<unk>', 'dog']);
  });
});

describe('fsum', () => {
  it('is correctly rounded like math.fsum', () => {
    expect(fsum([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])).toBe(1);
    expect(fsum([1e100, 1, -1e100])).toBe(1);
    expect(fsum([])).toBe(0);
  });
});

describe('corpusBleu against NLTK 3.10 (test/fixtures/metrics/bleu.json)', () => {
  it(`matches all ${fixture.cases.length} corpora to 1e-9 (relative)`, () => {
    expect(fixture.cases.length).toBeGreaterThan(300);
    const failures: string[] = [];
    for (const c of fixture.cases) {
      const r = corpusBleu(c.hypotheses, c.references);
      const checks: [string, number, number][] = [
        ...c.bleu.map((b, i): [string, number, number] => [`bleu${i + 1}`, r.bleu[i]!, b]),
        ...c.precisions.map((p, i): [string, number, number] => [`p${i + 1}`, r.precisions[i]!, p]),
        ['bp', r.brevityPenalty, c.brevityPenalty],
        ['hypLength', r.hypLength, c.hypLength],
        ['refLength', r.refLength, c.refLength],
      ];
      for (const [what, a, e] of checks) if (!close(a, e)) failures.push(`${c.name} ${what}: ${a} vs NLTK ${e}`);
    }
    expect(failures).toEqual([]);
  });
});
