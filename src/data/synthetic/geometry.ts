/**
 * Spatial predicates shared by caption generation and caption checking. The generator asks for the
 * 'strict' form (a clear margin, so a reference caption is never borderline); the checker accepts
 * the 'lenient' form (what a person would still call true). Strict implies lenient, so every
 * reference caption checks as correct.
 */
import type { SceneObject } from '../types.js';

export type Strictness = 'strict' | 'lenient';
export type Relation = 'above' | 'below' | 'left-of' | 'right-of' | 'next-to';
export type Position =
  | 'top-left'
  | 'top-right'
  | 'bottom-left'
  | 'bottom-right'
  | 'top'
  | 'bottom'
  | 'left'
  | 'right'
  | 'middle';

export const RELATIONS: readonly Relation[] = ['above', 'below', 'left-of', 'right-of', 'next-to'];
export const POSITIONS: readonly Position[] = ['top-left', 'top-right', 'bottom-left', 'bottom-right', 'top', 'bottom', 'left', 'right', 'middle'];

function centre(o: SceneObject): { x: number; y: number } {
  return { x: o.box.x + o.box.w / 2, y: o.box.y + o.box.h / 2 };
}

/** Gap between the boxes along the axis where they are separated most (0 when they overlap). */
function boxGap(a: SceneObject, b: SceneObject): number {
  const gx = Math.max(a.box.x - (b.box.x + b.box.w), b.box.x - (a.box.x + a.box.w), 0);
  const gy = Math.max(a.box.y - (b.box.y + b.box.h), b.box.y - (a.box.y + a.box.h), 0);
  return Math.max(gx, gy);
}

/** "a is <along> of b" where d is b's coordinate minus a's along that axis and cross the other axis. */
function directional(d: number, cross: number, size: number, how: Strictness): boolean {
  return how === 'strict' ? d >= 0.12 * size && d >= 1.2 * Math.abs(cross) : d >= 0.04 * size && d >= 0.5 * Math.abs(cross);
}

/** Whether "a <relation> b" holds (image y grows downwards). */
export function relationHolds(rel: Relation, a: SceneObject, b: SceneObject, size: number, how: Strictness): boolean {
  const ca = centre(a);
  const cb = centre(b);
  switch (rel) {
    case 'above':
      return directional(cb.y - ca.y, cb.x - ca.x, size, how);
    case 'below':
      return directional(ca.y - cb.y, cb.x - ca.x, size, how);
    case 'left-of':
      return directional(cb.x - ca.x, cb.y - ca.y, size, how);
    case 'right-of':
      return directional(ca.x - cb.x, cb.y - ca.y, size, how);
    case 'next-to':
      return boxGap(a, b) <= (how === 'strict' ? 0.1 : 0.18) * size;
  }
}

/** Whether the object's centre lies in the named part of the image (thirds, with a tolerance band). */
export function positionHolds(pos: Position, o: SceneObject, size: number, how: Strictness): boolean {
  const c = centre(o);
  const t = (how === 'strict' ? -0.05 : 0.06) * size;
  const low = (v: number): boolean => v < size / 3 + t;
  const high = (v: number): boolean => v > (2 * size) / 3 - t;
  const mid = (v: number): boolean => Math.abs(v - size / 2) < size / 6 + t;
  // The generator only says "at the top" of an object in the top middle, but a person would accept
  // it for any object in the top third, so the lenient form does not look at the other axis.
  const strict = how === 'strict';
  switch (pos) {
    case 'top-left':
      return low(c.y) && low(c.x);
    case 'top-right':
      return low(c.y) && high(c.x);
    case 'bottom-left':
      return high(c.y) && low(c.x);
    case 'bottom-right':
      return high(c.y) && high(c.x);
    case 'top':
      return low(c.y) && (!strict || mid(c.x));
    case 'bottom':
      return high(c.y) && (!strict || mid(c.x));
    case 'left':
      return low(c.x) && (!strict || mid(c.y));
    case 'right':
      return high(c.x) && (!strict || mid(c.y));
    case 'middle':
      return mid(c.x) && mid(c.y);
  }
}
