/**
 * CIDEr-D and plain CIDEr as coco-caption computes them (Vedantam et al. 2015), checked against
 * pycocoevalcap 1.2 and a transcription of vrama91/cider in test/fixtures/metrics/cider.json.
 *
 * Note: pycocoevalcap's class `Cider` already is CIDEr-D (clipped tf-idf, length Gaussian with
 * sigma 6); it is vrama91/cider's `ciderD_scorer.py` in "corpus" mode. Plain CIDEr (vrama91's
 * `cider_scorer.py`) only drops the clipping and the penalty; both are scaled x10.
 *
 * Faithful details, quirks included:
 * - document frequency counts, per image, the n-grams occurring in any of its references, over the
 *   images being evaluated ("corpus" mode); idf = log(#images) - log(max(1, df));
 *   so a corpus of one image scores 0;
 * - the "length" in the Gaussian penalty is the number of bigrams (coco-caption counts it at n-gram
 *   index 1), i.e. words - 1 for captions of two or more words, 0 for shorter ones;
 * - per image: mean over n = 1..4 of the summed similarities over references, / #references, x10.
 * Differences from coco-caption: no PTB tokeniser (captions are already tokenised, see score-file.ts),
 * and tokens are taken as given rather than re-split on whitespace.
 */

const N = 4;
const SIGMA = 6;

/** Per-order tf-idf vector of one caption, with its norms and its bigram count. */
interface TfIdf {
  vec: Map<string, number>[];
  norm: number[];
  length: number;
}

/** All n-grams of orders 1..4 with their counts, in coco-caption's (insertion) order. */
function precook(tokens: readonly string[]): Map<string, number>[] {
  const counts = Array.from({ length: N }, () => new Map<string, number>());
  for (let k = 1; k <= N; k++) {
    const m = counts[k - 1]!;
    for (let i = 0; i + k <= tokens.length; i++) {
      const key = tokens.slice(i, i + k).join('\u0000');
      m.set(key, (m.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

function toTfIdf(counts: Map<string, number>[], df: Map<string, number>, refLen: number): TfIdf {
  const vec = counts.map(() => new Map<string, number>());
  const sq = new Array<number>(N).fill(0);
  let length = 0;
  counts.forEach((m, n) => {
    for (const [gram, tf] of m) {
      const v = tf * (refLen - Math.log(Math.max(1, df.get(gram) ?? 0)));
      vec[n]!.set(gram, v);
      sq[n]! += v ** 2;
      if (n === 1) length += tf;
    }
  });
  return { vec, norm: sq.map(Math.sqrt), length };
}

function similarity(hyp: TfIdf, ref: TfIdf, clipped: boolean): number[] {
  const delta = hyp.length - ref.length;
  const val = new Array<number>(N).fill(0);
  for (let n = 0; n < N; n++) {
    const refVec = ref.vec[n]!;
    for (const [gram, h] of hyp.vec[n]!) {
      const r = refVec.get(gram) ?? 0;
      val[n]! += (clipped ? Math.min(h, r) : h) * r;
    }
    if (hyp.norm[n] !== 0 && ref.norm[n] !== 0) val[n]! /= hyp.norm[n]! * ref.norm[n]!;
    // Math.E ** x (not Math.exp) mirrors coco-caption's np.e ** x.
    if (clipped) val[n]! *= Math.E ** (-(delta ** 2) / (2 * SIGMA ** 2));
  }
  return val;
}

/** Result of {@link ciderD} and {@link cider}: the corpus mean and the score of every image. */
export interface CiderResult {
  score: number;
  perImage: number[];
}

function computeCider(hypotheses: string[][], references: string[][][], clipped: boolean, name: string): CiderResult {
  if (hypotheses.length !== references.length) {
    throw new Error(
      `${name}: ${hypotheses.length} hypotheses but ${references.length} reference sets; pass one reference set per hypothesis`,
    );
  }
  if (hypotheses.length === 0) throw new Error(`${name}: empty corpus; CIDEr is undefined without hypotheses`);
  const refCounts = references.map((refs, i) => {
    if (refs.length === 0) throw new Error(`${name}: hypothesis ${i} has no references; every image needs at least one`);
    return refs.map(precook);
  });
  const df = new Map<string, number>();
  for (const refs of refCounts) {
    const seen = new Set<string>();
    for (const ref of refs) for (const m of ref) for (const gram of m.keys()) seen.add(gram);
    for (const gram of seen) df.set(gram, (df.get(gram) ?? 0) + 1);
  }
  const refLen = Math.log(references.length);
  const perImage = hypotheses.map((hyp, i) => {
    const h = toTfIdf(precook(hyp), df, refLen);
    const sum = new Array<number>(N).fill(0);
    for (const ref of refCounts[i]!) {
      const s = similarity(h, toTfIdf(ref, df, refLen), clipped);
      for (let n = 0; n < N; n++) sum[n]! += s[n]!;
    }
    let score = (sum[0]! + sum[1]! + sum[2]! + sum[3]!) / N;
    score /= refCounts[i]!.length;
    return score * 10;
  });
  let total = 0;
  for (const s of perImage) total += s;
  return { score: total / perImage.length, perImage };
}

/**
 * CIDEr-D (coco-caption's "CIDEr") of tokenised hypotheses, hypotheses[i] against references[i];
 * document frequencies come from the references of this corpus. Scores are x10 as coco-caption
 * (a perfect match on a varied corpus is near 10; papers report the corpus mean x100).
 */
export function ciderD(hypotheses: string[][], references: string[][][]): CiderResult {
  return computeCider(hypotheses, references, true, 'ciderD');
}

/** Plain CIDEr (vrama91/cider's `Cider`, corpus df): as {@link ciderD} without clipping and length penalty. */
export function cider(hypotheses: string[][], references: string[][][]): CiderResult {
  return computeCider(hypotheses, references, false, 'cider');
}
