/** Descriptive statistics of generated captions: lengths, vocabulary use, unfinished beams. */

export interface CaptionStats {
  count: number;
  /** Caption length in words; all 0 when there are no captions. */
  length: { mean: number; median: number; min: number; max: number };
  /** Number of distinct words over all captions. */
  distinctWords: number;
  /** distinctWords / vocabularySize, when a vocabulary size was given. */
  vocabularyUsage?: number;
  /** Fraction of captions whose beam hit the step cap without <end>, when flags were given. */
  unfinishedFraction?: number;
}

export interface CaptionStatsOptions {
  /**
   * Number of real words the model could emit, for vocabularyUsage. With a Vocabulary that is
   * vocab.size - 4 (<pad>, <unk>, <start>, <end> are not words).
   */
  vocabularySize?: number;
  /** unfinished[i] is true when captions[i] came from a hypothesis that never emitted <end>. */
  unfinished?: boolean[];
}

/**
 * Statistics of tokenised captions (words only: strip <start>/<end>/<pad> first). The median of an
 * even count is the mean of the two middle lengths.
 */
export function captionStats(captions: string[][], opts: CaptionStatsOptions = {}): CaptionStats {
  const { vocabularySize, unfinished } = opts;
  if (vocabularySize !== undefined && !(Number.isInteger(vocabularySize) && vocabularySize > 0)) {
    throw new RangeError(`captionStats: vocabularySize must be a positive integer, got ${vocabularySize}`);
  }
  if (unfinished !== undefined && unfinished.length !== captions.length) {
    throw new RangeError(`captionStats: ${unfinished.length} unfinished flags for ${captions.length} captions; pass one flag per caption`);
  }
  const lengths = captions.map((c) => c.length).sort((a, b) => a - b);
  const n = lengths.length;
  const mid = Math.floor(n / 2);
  const length =
    n === 0
      ? { mean: 0, median: 0, min: 0, max: 0 }
      : {
          mean: lengths.reduce((a, b) => a + b, 0) / n,
          median: n % 2 === 1 ? lengths[mid]! : (lengths[mid - 1]! + lengths[mid]!) / 2,
          min: lengths[0]!,
          max: lengths[n - 1]!,
        };
  const distinctWords = new Set(captions.flat()).size;
  const stats: CaptionStats = { count: n, length, distinctWords };
  if (vocabularySize !== undefined) stats.vocabularyUsage = distinctWords / vocabularySize;
  if (unfinished !== undefined) stats.unfinishedFraction = n === 0 ? 0 : unfinished.filter(Boolean).length / n;
  return stats;
}
