/**
 * Reference captions of a synthetic scene: five "annotators", each with a fixed style, describe
 * every scene (as five people describe a COCO image). The styles differ in structure and wording,
 * but each is a function of the scene: objects are always named left to right, so one caption a
 * model could learn is one of the references, and BLEU against all five measures content, not
 * guessing among random paraphrases (which capped it at ~0.5 before).
 *   caption  := ["there is" | "there are"] clause (("and" | "with") clause)*
 *   clause   := np [relation np | position]
 *   np       := ("a" | "an") [size] colour shape  |  ("two" | "three") [size] [colour] shapes
 *   relation := above | below | to the left of | to the right of | next to | beside
 *   position := in the (top|bottom) (left|right) corner | at the top | at the bottom | on the left |
 *               on the right | in the middle | in the center
 * "a X" means at least one X; "two X" means exactly two. Every claim is generated only when it
 * holds with a clear margin (geometry 'strict'), so checkCaption accepts all reference captions.
 */
import type { SceneObject } from '../types.js';
import { POSITIONS, positionHolds, relationHolds, type Position, type Relation } from './geometry.js';
import { pluralOf, type Shape } from './lexicon.js';
import { NUMBER_WORDS, POSITION_PHRASES, RELATION_PHRASES } from './phrases.js';

/** Longest caption the grammar emits, in tokens. */
export const MAX_CAPTION_TOKENS = 18;

/** Word choices that tell the annotators apart beyond sentence structure. */
interface Wording {
  large: 'large' | 'big';
  middle: 'in the middle' | 'in the center';
  nextTo: 'next to' | 'beside';
  /** Name the size of every object, not only where it tells two objects apart. */
  alwaysSize: boolean;
}
const PLAIN: Wording = { large: 'large', middle: 'in the middle', nextTo: 'next to', alwaysSize: false };
const SIZED: Wording = { large: 'large', middle: 'in the middle', nextTo: 'next to', alwaysSize: true };
const VARIANT: Wording = { large: 'big', middle: 'in the center', nextTo: 'beside', alwaysSize: false };

type Style = (objects: SceneObject[], size: number) => string[] | undefined;

/** The annotators, in the order their captions are listed; a style that does not apply falls back. */
const STYLES: ReadonlyArray<{ style: Style; fallback: Style }> = [
  { style: (o) => withThere(join(groupPhrases(o, PLAIN), 'and')), fallback: () => undefined },
  { style: (o) => join(groupPhrases(o, SIZED), 'and'), fallback: () => undefined },
  { style: (o, s) => relationCaption(o, s, PLAIN), fallback: (o, s) => positionCaption(o, s, PLAIN) ?? join(groupPhrases(o, PLAIN), 'and') },
  { style: (o, s) => positionCaption(o, s, VARIANT), fallback: (o) => withThere(join(groupPhrases(o, VARIANT), 'with')) },
  { style: (o) => countCaption(o, VARIANT), fallback: (o, s) => relationCaption(o, s, VARIANT) ?? join(groupPhrases(o, VARIANT), 'with') },
];

/**
 * captionsPerImage captions (5 by default) for the objects of one scene, one per annotator style;
 * beyond five the styles repeat. Scenes with few objects can give two styles the same caption.
 */
export function generateCaptions(objects: SceneObject[], size: number, captionsPerImage = 5): string[][] {
  if (objects.length === 0) throw new Error('generateCaptions: the scene has no objects to describe');
  const ordered = leftToRight(objects);
  const fitting = (c: string[] | undefined): string[] | undefined => (c && c.length <= MAX_CAPTION_TOKENS ? c : undefined);
  return Array.from({ length: captionsPerImage }, (_, i) => {
    const { style, fallback } = STYLES[i % STYLES.length]!;
    return fitting(style(ordered, size)) ?? fitting(fallback(ordered, size)) ?? join(groupPhrases(ordered, PLAIN), 'and').slice(0, MAX_CAPTION_TOKENS);
  });
}

/** Objects by the x of their centre (then y): the order every annotator names them in. */
function leftToRight(objects: SceneObject[]): SceneObject[] {
  const cx = (o: SceneObject): number => o.box.x + o.box.w / 2;
  const cy = (o: SceneObject): number => o.box.y + o.box.h / 2;
  return [...objects].sort((a, b) => cx(a) - cx(b) || cy(a) - cy(b));
}

/** "a red circle"; the size is named when another object of that colour and shape differs in size. */
function nounPhrase(o: SceneObject, objects: SceneObject[], w: Wording): string[] {
  const sizeNeeded = w.alwaysSize || objects.some((p) => p !== o && p.color === o.color && p.shape === o.shape && p.size !== o.size);
  const words = sizeNeeded ? [sizeWord(o, w), o.color, o.shape] : [o.color, o.shape];
  return [article(words[0] as string), ...words];
}

function sizeWord(o: SceneObject, w: Wording): string {
  return o.size === 'large' ? w.large : o.size;
}

function article(next: string): string {
  return /^[aeiou]/.test(next) ? 'an' : 'a';
}

/** Objects of one colour and shape (split by size when their sizes differ), each part one phrase, in object order. */
function groupPhrases(objects: SceneObject[], w: Wording): string[][] {
  const groups = new Map<string, SceneObject[]>();
  for (const o of objects) {
    const key = `${o.color} ${o.shape}`;
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  const phrases: string[][] = [];
  for (const group of groups.values()) {
    const first = group[0] as SceneObject;
    const mixed = group.some((o) => o.size !== first.size);
    const bySize = mixed ? [group.filter((o) => o.size === first.size), group.filter((o) => o.size !== first.size)] : [group];
    for (const part of bySize) {
      const o = part[0] as SceneObject;
      if (part.length === 1) {
        phrases.push(nounPhrase(o, objects, w));
      } else {
        const size = mixed || w.alwaysSize ? [sizeWord(o, w)] : [];
        phrases.push([NUMBER_WORDS[part.length] as string, ...size, o.color, pluralOf(o.shape as Shape)]);
      }
    }
  }
  return phrases;
}

function join(parts: string[][], conjunction: 'and' | 'with'): string[] {
  return parts.flatMap((p, i) => (i === 0 ? p : [i === 1 ? conjunction : 'and', ...p]));
}

function withThere(words: string[]): string[] {
  const plural = words[0] !== 'a' && words[0] !== 'an';
  return ['there', plural ? 'are' : 'is', ...words];
}

/** Relations in the order an annotator prefers them, with their words. */
function relationWords(rel: Relation, w: Wording): readonly string[] {
  if (rel === 'next-to') return w.nextTo.split(' ');
  return RELATION_PHRASES.find((p) => p.rel === rel)!.tokens;
}
const RELATION_PREFERENCE: readonly Relation[] = ['left-of', 'above', 'below', 'next-to'];

/** "a red circle to the left of a green star [and a blue square]": the first pair, in object order, whose relation is clear. */
function relationCaption(objects: SceneObject[], size: number, w: Wording): string[] | undefined {
  for (let i = 0; i < objects.length; i++) {
    for (let j = i + 1; j < objects.length; j++) {
      const a = objects[i] as SceneObject;
      const b = objects[j] as SceneObject;
      const rel = RELATION_PREFERENCE.find((r) => relationHolds(r, a, b, size, 'strict'));
      if (!rel) continue;
      const words = [...nounPhrase(a, objects, w), ...relationWords(rel, w), ...nounPhrase(b, objects, w)];
      const rest = objects.filter((o) => o !== a && o !== b);
      return rest.length === 1 ? [...words, 'and', ...nounPhrase(rest[0] as SceneObject, objects, w)] : words;
    }
  }
  return undefined;
}

function positionWords(pos: Position, w: Wording): readonly string[] {
  if (pos === 'middle') return w.middle.split(' ');
  return POSITION_PHRASES.find((p) => p.pos === pos)!.tokens;
}

/**
 * "a red circle in the top left corner with a blue star at the bottom and a green square": every
 * object, each with its place when that is clear, places dropped from the last objects first when the
 * caption would run past MAX_CAPTION_TOKENS. Undefined when no object has a clear place.
 */
function positionCaption(objects: SceneObject[], size: number, w: Wording): string[] | undefined {
  const parts = objects.map((o) => {
    const pos = POSITIONS.find((p) => positionHolds(p, o, size, 'strict'));
    return { np: nounPhrase(o, objects, w), place: pos ? [...positionWords(pos, w)] : [] };
  });
  if (parts.every((p) => p.place.length === 0)) return undefined;
  const build = (): string[] => join(parts.map((p) => [...p.np, ...p.place]), 'with');
  for (let i = parts.length - 1; i > 0 && build().length > MAX_CAPTION_TOKENS; i--) parts[i]!.place = [];
  const words = build();
  return words.length <= MAX_CAPTION_TOKENS ? words : undefined;
}

/**
 * Counts of one shape across colours: "there are two circles and a blue star". (No count by colour
 * with the generic "shapes": a model unsure of the shapes learned to hide behind it.)
 */
function countCaption(objects: SceneObject[], w: Wording): string[] | undefined {
  const shape = objects.map((o) => o.shape).find((s) => objects.filter((o) => o.shape === s).length >= 2);
  if (!shape) return undefined;
  const members = objects.filter((o) => o.shape === shape);
  const head = [NUMBER_WORDS[members.length] as string, pluralOf(shape as Shape)];
  const rest = objects.filter((o) => !members.includes(o));
  return withThere(join([head, ...groupPhrases(rest, w)], 'and'));
}
