import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expandAttentionMap } from '../../src/render/attention-figure.js';

interface PyramidCase {
  gridSize: number;
  size: number;
  sigma: number;
  step: number;
  map: number[];
  expanded: number[];
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/metrics/pyramid.json', import.meta.url), 'utf8'),
) as { cases: PyramidCase[] };

describe('expandAttentionMap against skimage pyramid_expand (test/fixtures/metrics/pyramid.json)', () => {
  it.each(fixture.cases.map((c) => [`${c.gridSize}x${c.gridSize} -> ${c.size}, sigma ${c.sigma.toFixed(3)}`, c] as const))('%s', (_name, c) => {
    const out = expandAttentionMap(c.map, c.gridSize, c.size, c.sigma);
    const peak = Math.max(...c.expanded);
    let worst = 0;
    let k = 0;
    for (let y = 0; y < c.size; y += c.step) {
      for (let x = 0; x < c.size; x += c.step) worst = Math.max(worst, Math.abs(out[y * c.size + x]! - c.expanded[k++]!));
    }
    expect(k).toBe(c.expanded.length);
    // Float32 storage: agreement to 1e-5 of the map's peak.
    expect(worst / peak).toBeLessThan(1e-5);
  });
});
