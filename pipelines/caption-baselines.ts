/**
 * Reference points for caption scores. Template captions inflate BLEU: a model's BLEU-4 means little
 * without the score of one constant caption and the score of the references against each other.
 */
import type { CaptionedImage } from '../src/data/types.js';
import { ciderD, corpusBleu, stripSpecialTokens } from '../src/metrics/index.js';

/** BLEU-1..4 and CIDEr-D of one set of hypotheses. */
export interface BaselineScore {
  bleu: { bleu1: number; bleu2: number; bleu3: number; bleu4: number };
  ciderD: number;
}

export interface CaptionBaselines {
  /** The single caption given to every image: the most frequent reference caption outside the evaluated split (or in it, if there is no other). */
  constantCaption: string;
  constant: BaselineScore;
  /**
   * Each reference scored against the image's other references (leave one out), averaged over the
   * reference positions: what a caption as good as a human's would get.
   */
  oneVsRest: BaselineScore & { rounds: number };
}

function score(hyps: string[][], refs: string[][][]): BaselineScore {
  const b = corpusBleu(hyps, refs).bleu;
  return { bleu: { bleu1: b[0], bleu2: b[1], bleu3: b[2], bleu4: b[3] }, ciderD: ciderD(hyps, refs).score };
}

/** The most frequent caption among the images (ties: the first seen). */
export function mostFrequentCaption(images: CaptionedImage[]): string[] {
  const counts = new Map<string, { n: number; tokens: string[] }>();
  for (const im of images) {
    for (const c of im.captions) {
      const key = c.join(' ');
      const e = counts.get(key);
      if (e) e.n++;
      else counts.set(key, { n: 1, tokens: c });
    }
  }
  let best: { n: number; tokens: string[] } | undefined;
  for (const e of counts.values()) if (!best || e.n > best.n) best = e;
  if (!best) throw new RangeError('mostFrequentCaption: the images have no captions');
  return best.tokens;
}

/**
 * Baselines for the evaluated images (`evaluated`), the constant caption chosen from `pool` (the
 * other splits of the data set). Images with fewer than two references are left out of oneVsRest.
 */
export function captionBaselines(evaluated: CaptionedImage[], pool: CaptionedImage[]): CaptionBaselines {
  if (evaluated.length === 0) throw new RangeError('captionBaselines: no evaluated images');
  const refs = evaluated.map((im) => im.captions.map((c) => stripSpecialTokens(c)));
  const constantTokens = stripSpecialTokens(mostFrequentCaption(pool.length > 0 ? pool : evaluated));
  const constant = score(evaluated.map(() => constantTokens), refs);

  const multi = refs.filter((r) => r.length >= 2);
  const rounds = multi.length === 0 ? 0 : Math.min(...multi.map((r) => r.length));
  const sums = { bleu1: 0, bleu2: 0, bleu3: 0, bleu4: 0, ciderD: 0 };
  for (let k = 0; k < rounds; k++) {
    const s = score(multi.map((r) => r[k]!), multi.map((r) => r.filter((_, j) => j !== k)));
    sums.bleu1 += s.bleu.bleu1;
    sums.bleu2 += s.bleu.bleu2;
    sums.bleu3 += s.bleu.bleu3;
    sums.bleu4 += s.bleu.bleu4;
    sums.ciderD += s.ciderD;
  }
  const avg = (x: number) => (rounds === 0 ? 0 : x / rounds);
  return {
    constantCaption: constantTokens.join(' '),
    constant,
    oneVsRest: {
      bleu: { bleu1: avg(sums.bleu1), bleu2: avg(sums.bleu2), bleu3: avg(sums.bleu3), bleu4: avg(sums.bleu4) },
      ciderD: avg(sums.ciderD),
      rounds,
    },
  };
}
