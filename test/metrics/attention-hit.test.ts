import { describe, expect, it } from 'vitest';
import { attentionHitRate, cellCentre, peakCell, type AttentionSample } from '../../src/metrics/attention-hit.js';

interface Obj {
  shape: string;
  color: string;
  box: { x: number; y: number; w: number; h: number };
}

const classify = (w: string): string | null => (['circle', 'square'].includes(w) ? 'shape' : ['red', 'blue'].includes(w) ? 'color' : null);
const matches = (w: string, o: Obj): boolean => o.shape === w || o.color === w;

/** A grid*grid map with all weight on one (row, col) cell. */
function peakAt(grid: number, row: number, col: number): Float32Array {
  const m = new Float32Array(grid * grid).fill(0.001);
  m[row * grid + col] = 1;
  return m;
}

// 4x4 grid over a 64px image: cell size 16, cell (r, c) centre at (16c + 8, 16r + 8).
const redCircleTopLeft: Obj = { shape: 'circle', color: 'red', box: { x: 0, y: 0, w: 20, h: 20 } };
const blueSquareBottomRight: Obj = { shape: 'square', color: 'blue', box: { x: 40, y: 40, w: 24, h: 24 } };

function sample(words: string[], maps: Float32Array[], objects: Obj[] = [redCircleTopLeft, blueSquareBottomRight]): AttentionSample<Obj> {
  return { words, maps, gridSize: 4, imageSize: 64, objects };
}

describe('attentionHitRate', () => {
  it('counts a hit when the peak of the word\'s own map lies in a matching box, per class', () => {
    const s = sample(['a', 'red', 'circle', 'and', 'a', 'blue', 'square'], [
      peakAt(4, 3, 3), // 'a': not classified, ignored
      peakAt(4, 0, 0), // red -> top-left: hit
      peakAt(4, 0, 0), // circle -> hit
      peakAt(4, 0, 0),
      peakAt(4, 0, 0),
      peakAt(4, 0, 0), // blue -> top-left: miss (blue square is bottom-right)
      peakAt(4, 3, 3), // square -> hit
    ]);
    const r = attentionHitRate([s], classify, matches);
    expect(r).toMatchObject({ hits: 3, total: 4, rate: 0.75, noMatchingObject: 0 });
    expect(r.perClass).toEqual({ color: { hits: 1, total: 2, rate: 0.5 }, shape: { hits: 2, total: 2, rate: 1 } });
  });

  it('uses maps[i] for words[i] and ignores a trailing <end> map', () => {
    // If the alignment were off by one, 'circle' would use the bottom-right map and miss.
    const s = sample(['circle'], [peakAt(4, 0, 0), peakAt(4, 3, 3)]);
    expect(attentionHitRate([s], classify, matches).hits).toBe(1);
  });

  it('counts a word whose object is absent as a miss and reports it', () => {
    const s = sample(['square'], [peakAt(4, 0, 0)], [redCircleTopLeft]);
    expect(attentionHitRate([s], classify, matches)).toMatchObject({ hits: 0, total: 1, rate: 0, noMatchingObject: 1 });
  });

  it('breaks ties towards the first cell in row-major order', () => {
    const m = new Float32Array(16).fill(0);
    m[15] = 0.5;
    m[0] = 0.5;
    expect(peakCell(m)).toBe(0);
    expect(attentionHitRate([sample(['circle'], [m])], classify, matches).hits).toBe(1);
  });

  it('includes box edges: a cell centre exactly on the border is a hit, one pixel past is a miss', () => {
    // Cell (1,1) centre is (24, 24).
    expect(cellCentre(5, 4, 64, 64)).toEqual({ x: 24, y: 24 });
    const onEdge: Obj = { shape: 'circle', color: 'red', box: { x: 0, y: 0, w: 24, h: 24 } };
    const short: Obj = { shape: 'circle', color: 'red', box: { x: 0, y: 0, w: 23, h: 24 } };
    expect(attentionHitRate([sample(['circle'], [peakAt(4, 1, 1)], [onEdge])], classify, matches).hits).toBe(1);
    expect(attentionHitRate([sample(['circle'], [peakAt(4, 1, 1)], [short])], classify, matches).hits).toBe(0);
  });

  it('scales cells to a non-square image', () => {
    expect(cellCentre(7, 4, 128, 64)).toEqual({ x: 112, y: 24 });
    const s: AttentionSample<Obj> = {
      words: ['circle'],
      maps: [peakAt(4, 1, 3)],
      gridSize: 4,
      imageSize: { width: 128, height: 64 },
      objects: [{ shape: 'circle', color: 'red', box: { x: 100, y: 16, w: 20, h: 16 } }],
    };
    expect(attentionHitRate([s], classify, matches).hits).toBe(1);
  });

  it('returns zeros for no classified words', () => {
    expect(attentionHitRate([sample(['a'], [peakAt(4, 0, 0)])], classify, matches)).toEqual({
      hits: 0, total: 0, rate: 0, perClass: {}, noMatchingObject: 0,
    });
  });

  it('throws on too few maps or a map of the wrong size', () => {
    expect(() => attentionHitRate([sample(['red', 'circle'], [peakAt(4, 0, 0)])], classify, matches)).toThrow(/2 words but 1 attention maps/);
    expect(() => attentionHitRate([sample(['red'], [new Float32Array(9)])], classify, matches)).toThrow(/9 cells, expected gridSize\^2 = 16/);
  });
});
