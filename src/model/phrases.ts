/**
 * The phrase detector's phrases: two-word sequences of the training captions ("red circle", "left
 * of"), detected per grid cell like the word detector's words. Why: the word detector knows that an
 * image has something red and a circle, not that the circle is the red thing, and the captioner's
 * errors left were exactly such bindings ("a purple star" for a purple cross beside a green star).
 * A cell that must say "red circle" and not "red star" has to see both words on one object.
 * Everything comes from the captions: which phrases a caption has, never where.
 */
import type { Vocabulary } from '../data/vocabulary.js';

/** A phrase as the vocabulary ids of its two words, in caption order. */
export type Phrase = readonly [number, number];

/** Phrases in more captions than this are scaffolding ("there is", "and a") in most corpora. */
const MAX_CAPTION_SHARE = 0.5;

/**
 * The `count` two-word phrases found in the most captions, among those in at least `minCaptions`
 * captions and at most half of them; <unk> and the special tokens never take part. Ties keep first
 * appearance, so the same captions give the same list.
 */
export function selectPhrases(captions: readonly (readonly string[])[], vocab: Vocabulary, count: number, minCaptions = 5): Array<[number, number]> {
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`phrase count must be an integer >= 1 (got ${count})`);
  const special = new Set([vocab.padId, vocab.startId, vocab.endId, vocab.unkId]);
  const seen = new Map<string, { phrase: [number, number]; captions: number; first: number }>();
  captions.forEach((tokens, index) => {
    const ids = tokens.map((t) => vocab.idOf(t));
    const inThisCaption = new Set<string>();
    for (let i = 0; i + 1 < ids.length; i++) {
      const [a, b] = [ids[i]!, ids[i + 1]!];
      if (special.has(a) || special.has(b)) continue;
      const key = `${a} ${b}`;
      if (inThisCaption.has(key)) continue;
      inThisCaption.add(key);
      const entry = seen.get(key);
      if (entry) entry.captions++;
      else seen.set(key, { phrase: [a, b], captions: 1, first: index });
    }
  });
  return [...seen.values()]
    .filter((e) => e.captions >= minCaptions && e.captions <= MAX_CAPTION_SHARE * captions.length)
    .sort((x, y) => y.captions - x.captions || x.first - y.first)
    .slice(0, count)
    .map((e) => e.phrase);
}

/** A phrase list's lookup: the index of a two-word sequence, or undefined. */
export type PhraseLookup = (a: number, b: number) => number | undefined;
/** One lookup per phrase list: every training step and every beam search reuses its model's. */
const lookups = new WeakMap<readonly Phrase[], PhraseLookup>();

/** Looks a two-word sequence up in a phrase list: its index, or undefined. */
export function phraseIndex(phrases: readonly Phrase[]): PhraseLookup {
  let lookup = lookups.get(phrases);
  if (!lookup) {
    const index = new Map(phrases.map(([a, b], i) => [`${a} ${b}`, i]));
    lookup = (a, b) => index.get(`${a} ${b}`);
    lookups.set(phrases, lookup);
  }
  return lookup;
}

/**
 * [B, P]: 1 where caption b has phrase p as two adjacent target words. `outputs` and `mask` are
 * time-major [steps * B] (PreparedTargets), so adjacent words of caption b are rows t and t + 1.
 */
export function captionPhraseLabels(outputs: Int32Array, mask: Float32Array, batchSize: number, phrases: readonly Phrase[]): Float32Array {
  const find = phraseIndex(phrases);
  const labels = new Float32Array(batchSize * phrases.length);
  const steps = outputs.length / batchSize;
  for (let t = 0; t + 1 < steps; t++) {
    for (let b = 0; b < batchSize; b++) {
      const [i, j] = [t * batchSize + b, (t + 1) * batchSize + b];
      if (!(mask[i]! > 0 && mask[j]! > 0)) continue;
      const p = find(outputs[i]!, outputs[j]!);
      if (p !== undefined) labels[b * phrases.length + p] = 1;
    }
  }
  return labels;
}

/** How many times a caption (word ids) names each phrase, by phrase index (`find`: phraseIndex of the list). */
export function phraseOccurrences(ids: readonly number[], find: PhraseLookup): Map<number, number> {
  const out = new Map<number, number>();
  for (let t = 0; t + 1 < ids.length; t++) {
    const q = find(ids[t]!, ids[t + 1]!);
    if (q !== undefined) out.set(q, (out.get(q) ?? 0) + 1);
  }
  return out;
}
