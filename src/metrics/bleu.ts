/**
 * Corpus BLEU exactly as NLTK's `nltk.translate.bleu_score.corpus_bleu` computes it with no smoothing
 * (checked against NLTK 3.10 in test/fixtures/metrics/bleu.json). The reference model's evaluation
 * calls NLTK, so our numbers must be NLTK's, quirks included:
 * - n-gram counts are clipped per sentence by the maximum count in any one reference, and the clipped
 *   numerators and the denominators are summed over the corpus before dividing;
 * - a hypothesis shorter than n still adds 1 to the n-gram denominator (NLTK's `max(1, count)`);
 * - if no unigram matches anywhere in the corpus, every BLEU is exactly 0;
 * - otherwise a zero higher-order precision is replaced by the smallest normal double
 *   (`sys.float_info.min`), so BLEU is tiny (about 1e-77 for BLEU-4) but not 0;
 * - the brevity penalty compares the total hypothesis length with the sum over sentences of the
 *   reference length closest to the hypothesis length, ties going to the shorter reference.
 */

/** Result of {@link corpusBleu}. All scores are in [0, 1]; papers report them x100. */
export interface BleuResult {
  /** BLEU-1..4, BLEU-n with uniform weights 1/n over orders 1..n (as the reference's eval). */
  bleu: [number, number, number, number];
  /** Corpus modified precisions p1..p4 (clipped matches / hypothesis n-grams), unsmoothed. */
  precisions: number[];
  /** exp(1 - r/c) when c <= r, else 1; 0 when the hypotheses are all empty. */
  brevityPenalty: number;
  /** c: total hypothesis length in tokens. */
  hypLength: number;
  /** r: sum over sentences of the closest reference length. */
  refLength: number;
}

/** Python's `sys.float_info.min`: what NLTK's method0 substitutes for a zero precision. */
const PY_FLOAT_MIN = 2.2250738585072014e-308;
const MAX_ORDER = 4;

/** Tokens the model emits that are not words; the reference strips them before scoring. */
const SPECIAL_TOKENS = new Set(['<start>', '<end>', '<pad>']);

/** Removes <start>, <end> and <pad> (not <unk>: the reference keeps it, it counts as a miss). */
export function stripSpecialTokens(tokens: string[]): string[] {
  return tokens.filter((t) => !SPECIAL_TOKENS.has(t));
}

/** Counts of the n-grams of one sentence, keyed by tokens joined with a separator no token contains. */
export function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join('\u0000');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** NLTK's closest_ref_length: min over references of (|len - hypLen|, len). */
export function closestRefLength(references: readonly (readonly string[])[], hypLen: number): number {
  let best = Infinity;
  for (const ref of references) {
    const d = Math.abs(ref.length - hypLen);
    const bd = Math.abs(best - hypLen);
    if (d < bd || (d === bd && ref.length < best)) best = ref.length;
  }
  return best;
}

/**
 * Correctly rounded sum of floats (Shewchuk's algorithm, as Python's `math.fsum`), so the geometric
 * mean is rounded the way NLTK rounds it.
 */
export function fsum(values: readonly number[]): number {
  const partials: number[] = [];
  for (let x of values) {
    let i = 0;
    for (let y of partials) {
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  // Round the partials (non-overlapping, increasing magnitude) to one double, half-even as CPython.
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n]!;
  let lo = 0;
  while (n > 0) {
    const x = hi;
    const y = partials[--n]!;
    hi = x + y;
    const yr = hi - x;
    lo = y - yr;
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && partials[n - 1]! < 0) || (lo > 0 && partials[n - 1]! > 0))) {
    const y = lo * 2;
    const x = hi + y;
    const yr = x - hi;
    if (y === yr) hi = x;
  }
  return hi;
}

/**
 * Corpus BLEU-1..4 of tokenised hypotheses against their references, as NLTK's corpus_bleu with no
 * smoothing. hypotheses[i] is scored against references[i] (one or more token lists). Strip special
 * tokens first ({@link stripSpecialTokens}). Throws on an empty corpus, on mismatched lengths and on
 * an image without references (NLTK raises ZeroDivisionError / KeyError / ValueError there).
 */
export function corpusBleu(hypotheses: string[][], references: string[][][]): BleuResult {
  if (hypotheses.length !== references.length) {
    throw new Error(
      `corpusBleu: ${hypotheses.length} hypotheses but ${references.length} reference sets; pass one reference set per hypothesis`,
    );
  }
  if (hypotheses.length === 0) throw new Error('corpusBleu: empty corpus; BLEU is undefined without hypotheses');
  const numerators = new Array<number>(MAX_ORDER).fill(0);
  const denominators = new Array<number>(MAX_ORDER).fill(0);
  let hypLength = 0;
  let refLength = 0;
  hypotheses.forEach((hyp, s) => {
    const refs = references[s]!;
    if (refs.length === 0) throw new Error(`corpusBleu: hypothesis ${s} has no references; every image needs at least one`);
    for (let n = 1; n <= MAX_ORDER; n++) {
      const counts = ngramCounts(hyp, n);
      const refCounts = refs.map((r) => ngramCounts(r, n));
      let clipped = 0;
      let total = 0;
      for (const [gram, count] of counts) {
        let maxRef = 0;
        for (const rc of refCounts) maxRef = Math.max(maxRef, rc.get(gram) ?? 0);
        clipped += Math.min(count, maxRef);
        total += count;
      }
      numerators[n - 1]! += clipped;
      denominators[n - 1]! += Math.max(1, total);
    }
    hypLength += hyp.length;
    refLength += closestRefLength(refs, hyp.length);
  });
  const brevityPenalty = hypLength > refLength ? 1 : hypLength === 0 ? 0 : Math.exp(1 - refLength / hypLength);
  const precisions = numerators.map((num, i) => num / denominators[i]!);
  const bleu: [number, number, number, number] = [0, 0, 0, 0];
  if (numerators[0] !== 0) {
    const smoothed = numerators.map((num, i) => (num !== 0 ? num / denominators[i]! : PY_FLOAT_MIN));
    for (let order = 1; order <= MAX_ORDER; order++) {
      const w = 1 / order;
      const terms = smoothed.slice(0, order).map((p) => w * Math.log(p));
      bleu[order - 1] = brevityPenalty * Math.exp(fsum(terms));
    }
  }
  return { bleu, precisions, brevityPenalty, hypLength, refLength };
}
