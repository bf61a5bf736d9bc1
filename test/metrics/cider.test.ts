import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { cider, ciderD } from '../../src/metrics/cider.js';

interface CiderCase {
  name: string;
  hypotheses: string[][];
  references: string[][][];
  ciderD: { score: number; perImage: number[] };
  cider: { score: number; perImage: number[] };
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/metrics/cider.json', import.meta.url), 'utf8'),
) as { cases: CiderCase[] };

const sent = (s: string): string[] => s.split(' ');

describe('ciderD, hand-checked', () => {
  it('scores 0 on a corpus of one image (idf is log(1) - log(1) = 0 for every n-gram)', () => {
    expect(ciderD([sent('a dog')], [[sent('a dog')]]).score).toBe(0);
  });

  it('gives 10 for an exact match whose n-grams occur in no other image', () => {
    // Every n-gram of image 0 has df 1, so its vector is log(2) * tf on both sides: cosine 1 per order.
    const r = ciderD([sent('a big red circle'), sent('x')], [[sent('a big red circle')], [sent('y')]]);
    expect(r.perImage[0]).toBeCloseTo(10, 12);
    expect(r.perImage[1]).toBe(0);
    expect(r.score).toBeCloseTo(5, 12);
    // Three words have no 4-gram: that order contributes 0 to the mean over n = 1..4.
    expect(ciderD([sent('a red circle'), sent('x')], [[sent('a red circle')], [sent('y')]]).perImage[0]).toBeCloseTo(7.5, 12);
  });

  it('penalises a length difference with a Gaussian of sigma 6 on bigram counts', () => {
    // hyp 'b' (0 bigrams) vs ref 'b b' (1 bigram): delta 1.
    const hyps = [sent('b'), sent('x')];
    const refs = [[sent('b b')], [sent('y')]];
    const clippedUni = ciderD(hyps, refs).perImage[0]!;
    // unigram: hyp tf 1, ref tf 2 -> min(1,2)*2 / (1*2) = 1 (times idf^2/idf^2); other orders 0.
    expect(clippedUni).toBeCloseTo((10 / 4) * Math.exp(-1 / 72), 12);
    expect(cider(hyps, refs).perImage[0]).toBeCloseTo(10 / 4, 12);
  });

  it('rejects mismatched or empty input', () => {
    expect(() => ciderD([], [])).toThrow(/empty corpus/);
    expect(() => ciderD([['a']], [[]])).toThrow(/hypothesis 0 has no references/);
    expect(() => cider([['a']], [])).toThrow(/1 hypotheses but 0 reference sets/);
  });
});

describe('against pycocoevalcap 1.2 and vrama91/cider (test/fixtures/metrics/cider.json)', () => {
  it(`matches CIDEr-D and plain CIDEr on all ${fixture.cases.length} corpora to 1e-9`, () => {
    expect(fixture.cases.length).toBeGreaterThan(300);
    const failures: string[] = [];
    for (const c of fixture.cases) {
      for (const [what, fn, exp] of [
        ['ciderD', ciderD, c.ciderD],
        ['cider', cider, c.cider],
      ] as const) {
        const r = fn(c.hypotheses, c.references);
        if (Math.abs(r.score - exp.score) > 1e-9) failures.push(`${c.name} ${what}: ${r.score} vs ${exp.score}`);
        r.perImage.forEach((s, i) => {
          if (Math.abs(s - exp.perImage[i]!) > 1e-9) failures.push(`${c.name} ${what}[${i}]: ${s} vs ${exp.perImage[i]}`);
        });
      }
    }
    expect(failures).toEqual([]);
  });
});
