import { describe, expect, it } from 'vitest';
import type { CaptionedImage } from '../../src/data/types.js';
import { corpusBleu } from '../../src/metrics/index.js';
import { captionBaselines, mostFrequentCaption } from '../../pipelines/caption-baselines.js';

const image = (id: string, captions: string[]): CaptionedImage => ({ id, path: `/x/${id}.png`, split: 'test', captions: captions.map((c) => c.split(' ')) });

describe('caption baselines', () => {
  it('picks the most frequent caption of the pool and scores it as every image caption', () => {
    const pool = [image('p1', ['a red circle', 'a blue square']), image('p2', ['a red circle', 'a green star'])];
    expect(mostFrequentCaption(pool)).toEqual(['a', 'red', 'circle']);
    const evaluated = [image('t1', ['a red circle above a blue square', 'a red circle']), image('t2', ['two green stars', 'there are two green stars'])];
    const b = captionBaselines(evaluated, pool);
    expect(b.constantCaption).toBe('a red circle');
    const want = corpusBleu([['a', 'red', 'circle'], ['a', 'red', 'circle']], evaluated.map((im) => im.captions)).bleu;
    expect(b.constant.bleu.bleu4).toBeCloseTo(want[3], 12);
    expect(b.constant.bleu.bleu1).toBeCloseTo(want[0], 12);
  });

  it('scores each reference against the others: identical references give 1, and rounds = references per image', () => {
    const same = [image('a', ['a red circle on the left', 'a red circle on the left', 'a red circle on the left']), image('b', ['two blue squares at the top', 'two blue squares at the top', 'two blue squares at the top'])];
    const b = captionBaselines(same, []);
    expect(b.oneVsRest.rounds).toBe(3);
    expect(b.oneVsRest.bleu.bleu4).toBeCloseTo(1, 12);
    // With the pool empty the constant caption comes from the evaluated images themselves.
    expect(['a red circle on the left', 'two blue squares at the top']).toContain(b.constantCaption);
    const differ = [image('a', ['a red circle on the left', 'a blue square']), image('b', ['two green stars', 'a yellow cross at the top'])];
    expect(captionBaselines(differ, []).oneVsRest.bleu.bleu4).toBeLessThan(0.5);
  });

  it('refuses an empty evaluation', () => {
    expect(() => captionBaselines([], [])).toThrow(/no evaluated images/);
  });
});
