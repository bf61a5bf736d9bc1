import type { Vocabulary } from '../data/vocabulary.js';
import type { DetectorView } from './detector-rerank.js';
import { detectorAgreement } from './detector-rerank.js';
import { phraseOccurrences } from './phrase-count.js';
import type { Hypothesis } from './types.js';

/**
 * What the learned re-ranker (reranker.ts) knows of one candidate caption: the model's own view
 * (log-probability, length, the detectors' agreement), the caption's words, what the detectors see in
 * the image, and whether the caption names the objects it counts from left to right by where its
 * attention fell. Why these: the captions the model ranks too high are true ones in no annotator's
 * wording ("a purple diamond and a purple diamond" for "two purple diamonds", objects out of order),
 * and whether a wording fits depends on the scene (twins, counts) and on the caption's whole shape,
 * which a per-word model cannot weigh but a scorer of whole captions can.
 */

/** A candidate caption: a finished hypothesis, from the beam or from completing a forced opening. */
export interface Candidate extends Hypothesis {
  /** True when the caption completes one of the re-ranker's openings rather than coming from the beam. */
  opened: boolean;
}

/** The scalar features, in order, before the per-word and per-phrase blocks. */
export const SCALAR_FEATURES = ['logProb', 'length', 'logProbPerWord', 'detectorAgreement', 'opened', 'mentions', 'orderInversions', 'orderDrop', 'detectorOrderInversions', 'detectorOrderDrop'] as const;

/** Input width for a model with V words and P phrases: the scalars, 4 word blocks, 5 phrase blocks and the re-ranker's bigrams. */
export function featureCount(vocabSize: number, phraseCount: number, bigramCount = 0): number {
  return SCALAR_FEATURES.length + 4 * vocabSize + 5 * phraseCount + bigramCount;
}

/** Marks a caption's start and end in its bigrams, so "<s> two" and "squares </s>" are bigrams too. */
export const BIGRAM_START = '<s>';
export const BIGRAM_END = '</s>';

/** A caption's bigrams as "w1 w2" keys, with its start and end marked. */
export function captionBigrams(words: readonly string[]): string[] {
  const marked = [BIGRAM_START, ...words, BIGRAM_END];
  return marked.slice(1).map((w, t) => `${marked[t]!} ${w}`);
}

/**
 * The bigrams that appear at least minCount times among the given captions, commonest first (ties:
 * first seen). Why bigrams: the word counts cannot tell an annotator's "two small red crosses" from
 * the listing of the same words, "a small red cross and a small red cross"; "two small" and "cross
 * and" can. Measured on the shipped model's candidates (30,000 fresh scenes, with the opening "two"):
 * BLEU-4 0.952 -> 0.957, averaged over three fresh seeds (models/default/README.md, thirteenth round).
 */
export function commonBigrams(captions: readonly (readonly string[])[], minCount: number): string[] {
  const counts = new Map<string, number>();
  for (const c of captions) for (const b of captionBigrams(c)) counts.set(b, (counts.get(b) ?? 0) + 1);
  return [...counts].filter(([, n]) => n >= minCount).sort((a, b) => b[1] - a[1]).map(([b]) => b);
}

/** Counts of each of `bigrams`' entries in the caption (index: bigram -> position). */
export function bigramCounts(words: readonly string[], index: ReadonlyMap<string, number>): Float32Array {
  const x = new Float32Array(index.size);
  for (const b of captionBigrams(words)) {
    const i = index.get(b);
    if (i !== undefined) x[i]! += 1;
  }
  return x;
}

/** Bigram -> position in the feature block. */
export function bigramIndex(bigrams: readonly string[]): Map<string, number> {
  return new Map(bigrams.map((b, i) => [b, i]));
}

/**
 * The feature vector of a candidate for the image the detectors saw as `view`; gridSize is the
 * attention grid's side. Layout: SCALAR_FEATURES, then word counts [V], first word [V], second word [V],
 * the word detector's presence [V]; then, for models with phrases, the phrase detector's presence [P],
 * the objects its maps count per phrase [P], the caption's uses of each phrase [P], uses minus count [P],
 * and for phrases whose map shows twins, how much their blobs differ in size [P]; last, the counts of
 * the re-ranker's bigrams in the caption [bigrams.size] (bigramCounts).
 */
export function candidateFeatures(candidate: Candidate, view: DetectorView, vocab: Vocabulary, gridSize: number, bigrams: ReadonlyMap<string, number> = new Map()): Float32Array {
  const v = vocab.size;
  const phrases = view.phrases;
  const p = phrases?.presence.length ?? 0;
  const x = new Float32Array(featureCount(v, p, bigrams.size));
  x.set(bigramCounts(candidate.words, bigrams), featureCount(v, p));
  const { ids } = candidate;
  const order = mentionOrder(candidate, view, gridSize);
  const seen = detectedOrder(ids, view);
  x.set([candidate.logProb, ids.length, candidate.logProb / ids.length, detectorAgreement(ids, view, vocab), candidate.opened ? 1 : 0, order.mentions, order.inversions, order.drop, seen.inversions, seen.drop]);
  let at = SCALAR_FEATURES.length;
  for (const id of ids) x[at + id]! += 1;
  at += v;
  if (ids.length > 0) x[at + ids[0]!] = 1;
  at += v;
  if (ids.length > 1) x[at + ids[1]!] = 1;
  at += v;
  x.set(view.presence, at);
  at += v;
  if (!phrases) return x;
  x.set(phrases.presence, at);
  at += p;
  const instances = phrases.counting?.instances;
  if (instances) x.set(instances, at);
  at += p;
  for (let q = 0; q < p; q++) x[at + p + q] = -(instances?.[q] ?? 0);
  for (const [q, uses] of phraseOccurrences(ids, phrases.find)) {
    x[at + q] = uses;
    x[at + p + q]! += uses;
  }
  at += 2 * p;
  // Twins of different sizes: an annotator names their sizes, twins alike are "two ...".
  phrases.counting?.blobs?.forEach((blobs, q) => {
    if (blobs.length < 2) return;
    const sizes = blobs.map((b) => b.cells);
    x[at + q] = (Math.max(...sizes) - Math.min(...sizes)) / Math.max(...sizes);
  });
  return x;
}

/**
 * The order of the caption's counted mentions by where the phrase detector sees them: the k-th
 * mention of a phrase is the k-th of its map's blobs from the left (mentions beyond its blobs are
 * left out). Inversions and drop as in mentionOrder. Unlike the attention, the detector's maps do not
 * depend on the caption, so two orders of the same objects get opposite evidence.
 */
export function detectedOrder(ids: readonly number[], view: DetectorView): { inversions: number; drop: number } {
  const counting = view.phrases?.counting;
  if (!counting?.blobs) return { inversions: 0, drop: 0 };
  const used = new Map<number, number>();
  const xs: number[] = [];
  for (let t = 1; t < ids.length; t++) {
    const q = view.phrases!.find(ids[t - 1]!, ids[t]!);
    if (q === undefined || !counting.countable.has(q)) continue;
    const k = used.get(q) ?? 0;
    used.set(q, k + 1);
    const blob = counting.blobs[q]?.[k];
    if (blob) xs.push(blob.x);
  }
  let inversions = 0;
  let drop = 0;
  for (let m = 1; m < xs.length; m++) {
    const back = xs[m - 1]! - xs[m]!;
    if (back > 0) inversions++;
    drop += Math.max(0, back);
  }
  return { inversions, drop };
}

/**
 * Where the caption's object mentions look, left to right: a mention is a countable phrase ("red
 * circle"; config.countablePhrases), located by the attention map of its last word. Inversions count
 * mentions whose map's centre of mass lies more than half a cell left of the one before; drop sums
 * how far left they go (in image widths).
 */
export function mentionOrder(candidate: Hypothesis, view: DetectorView, gridSize: number): { mentions: number; inversions: number; drop: number } {
  const counting = view.phrases?.counting;
  if (!counting) return { mentions: 0, inversions: 0, drop: 0 };
  const xs: number[] = [];
  const { ids, attention } = candidate;
  for (let t = 1; t < ids.length; t++) {
    const q = view.phrases!.find(ids[t - 1]!, ids[t]!);
    const map = attention[t];
    if (q === undefined || !counting.countable.has(q) || !map) continue;
    let cx = 0;
    let mass = 0;
    for (let cell = 0; cell < map.length; cell++) {
      cx += map[cell]! * ((cell % gridSize) + 0.5);
      mass += map[cell]!;
    }
    xs.push(mass > 0 ? cx / mass / gridSize : 0.5);
  }
  let inversions = 0;
  let drop = 0;
  for (let m = 1; m < xs.length; m++) {
    const back = xs[m - 1]! - xs[m]!;
    if (back > 0.5 / gridSize) inversions++;
    drop += Math.max(0, back);
  }
  return { mentions: xs.length, inversions, drop };
}
