import { describe, expect, it } from 'vitest';
import { dequantiseAttention, quantiseAttention } from '../../src/protocol/messages.js';
import { attentionToRgba, gaussianBlur, upsampleBilinear } from '../../dashboards/src/render/attention-image.js';
import { colormapLut } from '../../dashboards/src/render/colormap.js';

describe('upsampleBilinear', () => {
  it('reproduces a constant map and keeps values within the input range', () => {
    const up = upsampleBilinear([0.5, 0.5, 0.5, 0.5], 2, 8);
    expect([...up].every((v) => Math.abs(v - 0.5) < 1e-6)).toBe(true);
  });

  it('puts the peak where the hot cell is and interpolates between cells', () => {
    const grid = 3;
    const map = new Float32Array(9);
    map[2 * 3 + 0] = 1; // bottom-left cell
    const size = 30;
    const up = upsampleBilinear(map, grid, size);
    let best = 0;
    for (let i = 1; i < up.length; i++) if (up[i]! > up[best]!) best = i;
    const bx = best % size;
    const by = Math.floor(best / size);
    expect(bx).toBeLessThan(10);
    expect(by).toBeGreaterThanOrEqual(20);
    expect(up[best]).toBeCloseTo(1, 5);
    // Half way between the centres of the hot cell and its right neighbour (x = 5 and 15): 0.5.
    expect(up[25 * size + 10]!).toBeGreaterThan(0.4);
    expect(up[25 * size + 10]!).toBeLessThan(0.6);
    expect(up[0 * size + 29]).toBe(0);
  });

  it('names the mismatch when the map is too short for the grid', () => {
    expect(() => upsampleBilinear([1, 2, 3], 2, 4)).toThrow(/3 cells, expected gridSize\^2 = 4/);
  });
});

describe('gaussianBlur', () => {
  it('preserves the total mass away from edges and spreads a spike', () => {
    const size = 21;
    const f = new Float32Array(size * size);
    f[10 * size + 10] = 1;
    const b = gaussianBlur(f, size, 2);
    const total = b.reduce((a, v) => a + v, 0);
    expect(total).toBeCloseTo(1, 4);
    expect(b[10 * size + 10]!).toBeLessThan(0.1);
    expect(b[10 * size + 12]!).toBeGreaterThan(0);
  });

  it('sigma 0 returns an unchanged copy', () => {
    const f = new Float32Array([1, 2, 3, 4]);
    const b = gaussianBlur(f, 2, 0);
    expect([...b]).toEqual([1, 2, 3, 4]);
    expect(b).not.toBe(f);
  });
});

describe('attentionToRgba', () => {
  it('colours through the LUT and makes hot regions more opaque', () => {
    const maps = dequantiseAttention(quantiseAttention([[0, 0, 0, 1]]), 2);
    const size = 16;
    const rgba = attentionToRgba(maps[0]!, 2, { size, sigma: 0, colormap: 'grey', opacity: 1 });
    expect(rgba.length).toBe(size * size * 4);
    const px = (x: number, y: number): number[] => [...rgba.subarray((y * size + x) * 4, (y * size + x) * 4 + 4)];
    const hot = px(15, 15);
    const cold = px(0, 0);
    expect(hot).toEqual([255, 255, 255, 255]);
    expect(cold[0]).toBe(0);
    expect(cold[3]).toBeLessThan(hot[3]!);
    expect(cold[3]).toBeGreaterThan(0);
  });

  it('scales alpha by opacity', () => {
    const rgba = attentionToRgba([1], 1, { size: 2, sigma: 0, colormap: 'inferno', opacity: 0.5 });
    expect(rgba[3]).toBe(128);
    const lut = colormapLut('inferno');
    expect([rgba[0], rgba[1], rgba[2]]).toEqual([lut[765], lut[766], lut[767]]);
  });

  it('draws nothing for an all-zero map', () => {
    const rgba = attentionToRgba([0, 0, 0, 0], 2, { size: 4, sigma: 1, colormap: 'jet', opacity: 1 });
    expect(rgba.every((v) => v === 0)).toBe(true);
  });
});

describe('colormapLut', () => {
  it('has 256 entries running from the first to the last control point', () => {
    const grey = colormapLut('grey');
    expect(grey.length).toBe(768);
    expect([grey[0], grey[765]]).toEqual([0, 255]);
    expect(grey[128 * 3]).toBe(128);
    expect(colormapLut('jet')).toBe(colormapLut('jet'));
  });
});
