/**
 * Attention hit rate: does the model look at the object it is naming? For every generated word that
 * `classify` puts in a class (e.g. 'shape' or 'color' on the synthetic scenes), take the attention
 * map used when emitting that word, find its peak cell, map the cell centre to image pixels and
 * count a hit when it falls inside the box of an object the word describes (`matches`).
 *
 * Alignment: maps[i] is the attention the decoder computed at the step that emitted words[i] (the
 * context vector that fed the prediction of words[i]); this is how beam search records
 * `Hypothesis.attention`. That list may hold one more map, for <end>; it is ignored.
 */

/** An axis-aligned box in pixels of the image the attention is mapped to. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One captioned image: its words, one attention map per word and the objects it contains. */
export interface AttentionSample<T extends { box: Box } = { box: Box }> {
  /** Generated words without <start>; a trailing <end> may be present (it is classified like any word). */
  words: string[];
  /** maps[i]: grid*grid weights, row-major, the attention used when emitting words[i]; length >= words.length. */
  maps: ArrayLike<number>[];
  gridSize: number;
  /** Size of the image the boxes are in: a number for a square image, else width and height. */
  imageSize: number | { width: number; height: number };
  objects: T[];
}

export interface HitCount {
  hits: number;
  total: number;
  /** hits / total, or 0 when total is 0. */
  rate: number;
}

export interface AttentionHitResult extends HitCount {
  /** The same counts per class returned by `classify`. */
  perClass: Record<string, HitCount>;
  /** Classified words for which no object matched at all (counted in total as misses). */
  noMatchingObject: number;
}

/** Index of the largest weight; on ties the first in row-major order (top-most, then left-most). */
export function peakCell(map: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i]! > map[best]!) best = i;
  return best;
}

/** Centre of a grid cell in image pixels: ((col + 0.5) * width / grid, (row + 0.5) * height / grid). */
export function cellCentre(cell: number, gridSize: number, width: number, height: number): { x: number; y: number } {
  const row = Math.floor(cell / gridSize);
  const col = cell % gridSize;
  return { x: ((col + 0.5) * width) / gridSize, y: ((row + 0.5) * height) / gridSize };
}

/** Box membership with both edges included, so a centre exactly on a border counts as inside. */
export function insideBox(p: { x: number; y: number }, b: Box): boolean {
  return p.x >= b.x && p.x <= b.x + b.w && p.y >= b.y && p.y <= b.y + b.h;
}

const rate = (c: { hits: number; total: number }): number => (c.total === 0 ? 0 : c.hits / c.total);

/**
 * Attention hit rate over samples. Throws when a sample has fewer maps than words or a map whose
 * length is not gridSize^2 (a misaligned sample would silently give a meaningless rate).
 */
export function attentionHitRate<T extends { box: Box }>(
  samples: AttentionSample<T>[],
  classify: (word: string) => string | null,
  matches: (word: string, obj: T) => boolean,
): AttentionHitResult {
  const perClass: Record<string, HitCount> = {};
  let hits = 0;
  let total = 0;
  let noMatchingObject = 0;
  samples.forEach((s, si) => {
    if (s.maps.length < s.words.length) {
      throw new Error(`attentionHitRate: sample ${si} has ${s.words.length} words but ${s.maps.length} attention maps; pass one map per word`);
    }
    const { width, height } = typeof s.imageSize === 'number' ? { width: s.imageSize, height: s.imageSize } : s.imageSize;
    s.words.forEach((word, wi) => {
      const cls = classify(word);
      if (cls === null) return;
      const map = s.maps[wi]!;
      if (map.length !== s.gridSize * s.gridSize) {
        throw new Error(`attentionHitRate: sample ${si} map ${wi} has ${map.length} cells, expected gridSize^2 = ${s.gridSize ** 2}`);
      }
      const centre = cellCentre(peakCell(map), s.gridSize, width, height);
      const candidates = s.objects.filter((o) => matches(word, o));
      if (candidates.length === 0) noMatchingObject++;
      const hit = candidates.some((o) => insideBox(centre, o.box));
      const c = (perClass[cls] ??= { hits: 0, total: 0, rate: 0 });
      c.total++;
      total++;
      if (hit) {
        c.hits++;
        hits++;
      }
    });
  });
  for (const c of Object.values(perClass)) c.rate = rate(c);
  return { hits, total, rate: rate({ hits, total }), perClass, noMatchingObject };
}
