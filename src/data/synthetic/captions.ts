/**
 * Reference captions of a synthetic scene, from a small grammar:
 *   caption  := ["there is" | "there are"] clause (("and" | "with") clause)*
 *   clause   := np [relation np | position]
 *   np       := ("a" | "an") [size] colour shape  |  ("two" | "three") [size] [colour] (shapes | "shapes")
 *   relation := above | below | under | to the left of | to the right of | next to | beside
 *   position := in the (top|bottom) (left|right) corner | at the top | at the bottom | on the left |
 *               on the right | in the middle | in the center
 * "a X" means at least one X; "two X" means exactly two. Every claim is generated only when it
 * holds with a clear margin (geometry 'strict'), so checkCaption accepts all reference captions.
 */
import { pick, shuffle } from '../rng.js';
import type { SceneObject } from '../types.js';
import { RELATIONS, POSITIONS, positionHolds, relationHolds } from './geometry.js';
import { pluralOf, type Shape } from './lexicon.js';
import { GENERIC_PLURAL, NUMBER_WORDS, POSITION_PHRASES, RELATION_PHRASES } from './phrases.js';

/** Longest caption the grammar emits, in tokens. */
export const MAX_CAPTION_TOKENS = 14;

type Rng = () => number;
type Template = (objects: SceneObject[], size: number, rng: Rng) => string[] | undefined;

/**
 * captionsPerImage varied captions (5 by default) for the objects of one scene. Captions of
 * different kinds (relation, listing, position, count) are interleaved; when the scene allows
 * fewer distinct captions than asked for, some repeat.
 */
export function generateCaptions(objects: SceneObject[], size: number, rng: Rng, captionsPerImage = 5): string[][] {
  const kinds: Template[] = [relationCaption, listCaption, positionCaption, countCaption];
  const pools = kinds.map((template) => {
    const seen = new Map<string, string[]>();
    for (let attempt = 0; attempt < 10; attempt++) {
      const c = template(objects, size, rng);
      if (c && c.length <= MAX_CAPTION_TOKENS) seen.set(c.join(' '), c);
    }
    return shuffle([...seen.values()], rng);
  });
  const chosen: string[][] = [];
  const used = new Set<string>();
  for (let round = 0; chosen.length < captionsPerImage && pools.some((p) => p.length > 0); round++) {
    for (const pool of pools) {
      if (chosen.length >= captionsPerImage) break;
      const next = pool.shift();
      if (next && !used.has(next.join(' '))) {
        used.add(next.join(' '));
        chosen.push(next);
      }
    }
  }
  if (chosen.length === 0) throw new Error('generateCaptions: the scene has no objects to describe');
  const distinct = [...chosen];
  while (chosen.length < captionsPerImage) chosen.push(pick(rng, distinct));
  return chosen;
}

/** "a red circle", with the size when another object of that colour and shape differs in size, else at random. */
function nounPhrase(o: SceneObject, objects: SceneObject[], rng: Rng): string[] {
  const sizeNeeded = objects.some((p) => p !== o && p.color === o.color && p.shape === o.shape && p.size !== o.size);
  const words = sizeNeeded || rng() < 0.4 ? [sizeWord(o, rng), o.color, o.shape] : [o.color, o.shape];
  return [article(words[0] as string), ...words];
}

function sizeWord(o: SceneObject, rng: Rng): string {
  return o.size === 'large' && rng() < 0.3 ? 'big' : o.size;
}

function article(next: string): string {
  return /^[aeiou]/.test(next) ? 'an' : 'a';
}

/** Objects of one colour and shape, split by size when their sizes differ: each part is one phrase. */
function groupPhrases(objects: SceneObject[], rng: Rng): string[][] {
  const groups = new Map<string, SceneObject[]>();
  for (const o of objects) {
    const key = `${o.color} ${o.shape}`;
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  const phrases: string[][] = [];
  for (const group of groups.values()) {
    const first = group[0] as SceneObject;
    const mixed = group.some((o) => o.size !== first.size);
    const bySize = mixed ? [group.filter((o) => o.size === 'small'), group.filter((o) => o.size === 'large')] : [group];
    for (const part of bySize) {
      const o = part[0] as SceneObject;
      if (part.length === 1) {
        phrases.push(nounPhrase(o, objects, rng));
      } else {
        const size = mixed || rng() < 0.4 ? [sizeWord(o, rng)] : [];
        phrases.push([NUMBER_WORDS[part.length] as string, ...size, o.color, pluralOf(o.shape as Shape)]);
      }
    }
  }
  return shuffle(phrases, rng);
}

function join(parts: string[][], rng: Rng): string[] {
  if (parts.length === 3 && rng() < 0.5) return [...(parts[0] as string[]), 'with', ...(parts[1] as string[]), 'and', ...(parts[2] as string[])];
  return parts.flatMap((p, i) => (i === 0 ? p : ['and', ...p]));
}

function withThere(words: string[], rng: Rng, p: number): string[] {
  if (rng() >= p) return words;
  const plural = words[0] !== 'a' && words[0] !== 'an';
  return ['there', plural ? 'are' : 'is', ...words];
}

/** Every object, grouped: "there are two blue squares and a red circle". */
const listCaption: Template = (objects, _size, rng) => withThere(join(groupPhrases(objects, rng), rng), rng, 0.4);

/** "a red circle above a green star" for a pair whose relation is clear. */
const relationCaption: Template = (objects, size, rng) => {
  const options: Array<{ a: SceneObject; b: SceneObject; tokens: readonly string[] }> = [];
  for (const a of objects) {
    for (const b of objects) {
      if (a === b) continue;
      for (const rel of RELATIONS) {
        if (!relationHolds(rel, a, b, size, 'strict')) continue;
        for (const p of RELATION_PHRASES) if (p.rel === rel) options.push({ a, b, tokens: p.tokens });
      }
    }
  }
  if (options.length === 0) return undefined;
  const { a, b, tokens } = pick(rng, options);
  let words = [...nounPhrase(a, objects, rng), ...tokens, ...nounPhrase(b, objects, rng)];
  const rest = objects.filter((o) => o !== a && o !== b);
  if (rest.length === 1 && rng() < 0.35) words = [...words, 'and', ...nounPhrase(rest[0] as SceneObject, objects, rng)];
  return withThere(words, rng, 0.3);
};

/** "a red circle in the top left corner", optionally followed by a second object and its place. */
const positionCaption: Template = (objects, size, rng) => {
  const placed = shuffle(
    objects.flatMap((o) => POSITIONS.filter((pos) => positionHolds(pos, o, size, 'strict')).map((pos) => ({ o, pos }))),
    rng,
  );
  const phrase = (o: SceneObject, pos: string): string[] => [
    ...nounPhrase(o, objects, rng),
    ...pick(rng, POSITION_PHRASES.filter((p) => p.pos === pos)).tokens,
  ];
  const first = placed[0];
  if (!first) return undefined;
  let words = phrase(first.o, first.pos);
  const second = placed.find((p) => p.o !== first.o);
  if (second && rng() < 0.5) {
    const longer = [...words, 'and', ...phrase(second.o, second.pos)];
    if (longer.length <= MAX_CAPTION_TOKENS) words = longer;
  }
  return withThere(words, rng, 0.3);
};

/** Counts across colours or shapes: "two circles and a blue star", "there are two red shapes". */
const countCaption: Template = (objects, _size, rng) => {
  const options: Array<{ head: string[]; members: SceneObject[] }> = [];
  const shapes = new Set(objects.map((o) => o.shape));
  for (const shape of shapes) {
    const members = objects.filter((o) => o.shape === shape);
    if (members.length >= 2) options.push({ head: [NUMBER_WORDS[members.length] as string, pluralOf(shape as Shape)], members });
  }
  const colors = new Set(objects.map((o) => o.color));
  for (const color of colors) {
    const members = objects.filter((o) => o.color === color);
    if (members.length >= 2 && new Set(members.map((o) => o.shape)).size > 1) {
      options.push({ head: [NUMBER_WORDS[members.length] as string, color, GENERIC_PLURAL], members });
    }
  }
  if (options.length === 0) return undefined;
  const { head, members } = pick(rng, options);
  const rest = objects.filter((o) => !members.includes(o));
  return withThere(join([head, ...groupPhrases(rest, rng)], rng), rng, 0.5);
};
