/** Word sequences of the caption grammar for relations, positions and counts (generator and parser share them). */
import type { Position, Relation } from './geometry.js';

export const RELATION_PHRASES: ReadonlyArray<{ tokens: readonly string[]; rel: Relation }> = [
  { tokens: ['above'], rel: 'above' },
  { tokens: ['below'], rel: 'below' },
  { tokens: ['under'], rel: 'below' },
  { tokens: ['to', 'the', 'left', 'of'], rel: 'left-of' },
  { tokens: ['to', 'the', 'right', 'of'], rel: 'right-of' },
  { tokens: ['next', 'to'], rel: 'next-to' },
  { tokens: ['beside'], rel: 'next-to' },
];

export const POSITION_PHRASES: ReadonlyArray<{ tokens: readonly string[]; pos: Position }> = [
  { tokens: ['in', 'the', 'top', 'left', 'corner'], pos: 'top-left' },
  { tokens: ['in', 'the', 'top', 'right', 'corner'], pos: 'top-right' },
  { tokens: ['in', 'the', 'bottom', 'left', 'corner'], pos: 'bottom-left' },
  { tokens: ['in', 'the', 'bottom', 'right', 'corner'], pos: 'bottom-right' },
  { tokens: ['at', 'the', 'top'], pos: 'top' },
  { tokens: ['at', 'the', 'bottom'], pos: 'bottom' },
  { tokens: ['on', 'the', 'left'], pos: 'left' },
  { tokens: ['on', 'the', 'right'], pos: 'right' },
  { tokens: ['in', 'the', 'middle'], pos: 'middle' },
  { tokens: ['in', 'the', 'center'], pos: 'middle' },
];

/** Exact-count determiners; "a"/"an" mean "at least one". */
export const COUNT_WORDS: Readonly<Record<string, number>> = { two: 2, three: 3 };
export const NUMBER_WORDS: readonly string[] = ['', '', 'two', 'three'];

/** The generic plural noun ("two red shapes"): any shape. */
export const GENERIC_PLURAL = 'shapes';
