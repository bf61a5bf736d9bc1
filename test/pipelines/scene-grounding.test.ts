import { describe, expect, it } from 'vitest';
import { sceneGrounding, type GroundedCaption } from '../../pipelines/scene-grounding.js';
import type { SceneObject } from '../../src/data/types.js';

// A 64x64 scene on a 2x2 grid: a red circle in the top-left cell, a blue square in the bottom-right.
const objects: SceneObject[] = [
  { shape: 'circle', color: 'red', size: 'small', box: { x: 4, y: 4, w: 20, h: 20 } },
  { shape: 'square', color: 'blue', size: 'small', box: { x: 40, y: 40, w: 20, h: 20 } },
];
const TOP_LEFT = [1, 0, 0, 0];
const BOTTOM_RIGHT = [0, 0, 0, 1];
const FLAT = [0.25, 0.25, 0.25, 0.25];
const sample = (words: string[], attention: number[][]): GroundedCaption => ({
  id: words.join('-'), caption: words.join(' '), words, attention, gridSize: 2, objects, width: 64, height: 64,
});

describe('sceneGrounding: content and attention figures from scene annotations', () => {
  it('scores a true, complete caption whose attention follows the words as all hits', () => {
    const g = sceneGrounding([sample(['a', 'red', 'circle', 'and', 'a', 'blue', 'square'], [FLAT, TOP_LEFT, TOP_LEFT, FLAT, FLAT, BOTTOM_RIGHT, BOTTOM_RIGHT])]);
    expect(g.content).toMatchObject({ accuracy: 1, correct: 1, checked: 1, completeAccuracy: 1, objectCoverage: 1, examples: [] });
    expect(g.attention).toMatchObject({ hits: 4, total: 4, rate: 1 });
  });

  it('separates true-but-terse, wrong, and looking elsewhere', () => {
    const terse = sample(['a', 'red', 'circle'], [FLAT, BOTTOM_RIGHT, TOP_LEFT]); // colour word looks at the square: a miss
    const wrong = sample(['a', 'green', 'circle', 'and', 'a', 'blue', 'square'], [FLAT, TOP_LEFT, TOP_LEFT, FLAT, FLAT, BOTTOM_RIGHT, BOTTOM_RIGHT]);
    const g = sceneGrounding([terse, wrong]);
    expect(g.content.accuracy).toBe(0.5);
    expect(g.content.completeAccuracy).toBe(0);
    expect(g.content.objectCoverage).toBe(0.75);
    expect(g.content.examples.map((e) => e.id)).toEqual([wrong.id]);
    // terse: red miss, circle hit; wrong: green has no matching object (a miss), circle, blue, square hit.
    expect(g.attention).toMatchObject({ hits: 4, total: 6, noMatchingObject: 1 });
  });
});
