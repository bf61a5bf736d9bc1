/**
 * The words of the synthetic scenes: shapes, colours and sizes, and how caption words map onto
 * scene objects. Attention metrics use wordClass/objectMatchesWord to ask "did the model look at
 * the object this word names?".
 */
import type { SceneObject } from '../types.js';

export const SHAPES = ['circle', 'square', 'triangle', 'diamond', 'star', 'cross'] as const;
export type Shape = (typeof SHAPES)[number];

const PLURALS: Record<Shape, string> = {
  circle: 'circles',
  square: 'squares',
  triangle: 'triangles',
  diamond: 'diamonds',
  star: 'stars',
  cross: 'crosses',
};
const SINGULAR_OF = new Map<string, Shape>(SHAPES.map((s) => [PLURALS[s], s]));

/** Named colours with their base sRGB values: far apart in hue so 64-pixel renders stay unambiguous. */
export const COLORS = {
  red: [214, 38, 38],
  green: [36, 164, 64],
  blue: [40, 84, 222],
  yellow: [240, 212, 28],
  purple: [134, 56, 190],
  orange: [246, 134, 22],
  pink: [246, 118, 190],
} as const satisfies Record<string, readonly [number, number, number]>;
export type Color = keyof typeof COLORS;
export const COLOR_NAMES = Object.keys(COLORS) as Color[];

export const SIZES = ['small', 'large'] as const;
export type Size = (typeof SIZES)[number];
/** Size words and the size they mean ("big" is a synonym of "large"). */
const SIZE_WORDS: Record<string, Size> = { small: 'small', large: 'large', big: 'large' };

/** Plural of a shape name ("crosses"). */
export function pluralOf(shape: Shape): string {
  return PLURALS[shape];
}

/** The shape a singular or plural shape word names, if any. */
export function shapeOfWord(word: string): Shape | undefined {
  return (SHAPES as readonly string[]).includes(word) ? (word as Shape) : SINGULAR_OF.get(word);
}

/** True for the plural shape words ("circles"), not for the generic "shapes". */
export function isPluralShapeWord(word: string): boolean {
  return SINGULAR_OF.has(word);
}

/** The size a size word means, if it is one. */
export function sizeOfWord(word: string): Size | undefined {
  return SIZE_WORDS[word];
}

export function isColorWord(word: string): word is Color {
  return Object.hasOwn(COLORS, word);
}

/**
 * 'shape' for shape words (singular or plural), 'color' for colour words, null for everything
 * else (including the generic "shapes", size words and function words).
 */
export function wordClass(word: string): 'shape' | 'color' | null {
  if (shapeOfWord(word)) return 'shape';
  if (isColorWord(word)) return 'color';
  return null;
}

/** Whether a shape, colour or size word describes the object ("circles" matches a circle). */
export function objectMatchesWord(word: string, obj: SceneObject): boolean {
  const shape = shapeOfWord(word);
  if (shape) return obj.shape === shape;
  if (isColorWord(word)) return obj.color === word;
  const size = sizeOfWord(word);
  if (size) return obj.size === size;
  return false;
}
