import { describe, expect, it } from 'vitest';
import { END, PAD, START, UNK, Vocabulary } from '../../src/data/vocabulary.js';

const captions = [
  ...Array(6).fill(['a', 'red', 'circle']),
  ...Array(6).fill(['a', 'blue', 'star']),
  ['a', 'rare', 'word'],
] as string[][];

describe('Vocabulary', () => {
  it('keeps words seen more than minWordFreq times, ordered by count then alphabetically, specials around them', () => {
    const v = Vocabulary.build(captions, 5);
    expect(v.words).toEqual([PAD, 'a', 'blue', 'circle', 'red', 'star', UNK, START, END]);
    expect([v.padId, v.unkId, v.startId, v.endId]).toEqual([0, 6, 7, 8]);
    expect(v.idOf('rare')).toBe(v.unkId);
  });

  it('encodes with <start>/<end>/<pad> and length n+2, and decodes back', () => {
    const v = Vocabulary.build(captions, 5);
    const { ids, length } = v.encode(['a', 'red', 'circle'], 5);
    expect(ids).toEqual([7, 1, 4, 3, 8, 0, 0]);
    expect(length).toBe(5);
    expect(v.decode(ids)).toEqual(['a', 'red', 'circle']);
    expect(() => v.encode(['a', 'a', 'a'], 2)).toThrow(RangeError);
    expect(() => v.wordOf(99)).toThrow(RangeError);
  });

  it('round-trips through JSON and refuses malformed JSON naming the source', () => {
    const v = Vocabulary.build(captions, 5);
    expect(Vocabulary.fromJSON(JSON.parse(JSON.stringify(v))).words).toEqual(v.words);
    expect(() => Vocabulary.fromJSON({ formatVersion: 2, words: [] }, 'ckpt/vocab.json')).toThrow(/ckpt\/vocab\.json/);
    expect(() => Vocabulary.fromJSON({ formatVersion: 1, words: ['a'] })).toThrow(/special token/);
  });
});
