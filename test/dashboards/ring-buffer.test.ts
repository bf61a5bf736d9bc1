import { describe, expect, it } from 'vitest';
import { RingBuffer } from '../../dashboards/src/state/ring-buffer.js';

describe('RingBuffer', () => {
  it('rejects a capacity that is not a positive integer, naming the value', () => {
    expect(() => new RingBuffer(0)).toThrow(/capacity \(0\) must be a positive integer/);
    expect(() => new RingBuffer(2.5)).toThrow(RangeError);
  });

  it('is empty at first', () => {
    const r = new RingBuffer<number>(3);
    expect(r.length).toBe(0);
    expect(r.last()).toBeUndefined();
    expect(r.at(0)).toBeUndefined();
    expect(r.toArray()).toEqual([]);
  });

  it('keeps items in order below capacity', () => {
    const r = new RingBuffer<number>(3);
    r.push(1);
    r.push(2);
    expect(r.toArray()).toEqual([1, 2]);
    expect(r.at(-1)).toBe(2);
    expect(r.last()).toBe(2);
  });

  it('overwrites the oldest beyond capacity and counts every push in total', () => {
    const r = new RingBuffer<number>(3);
    for (let i = 1; i <= 7; i++) r.push(i);
    expect(r.length).toBe(3);
    expect(r.total).toBe(7);
    expect(r.toArray()).toEqual([5, 6, 7]);
    expect(r.at(0)).toBe(5);
    expect(r.at(2)).toBe(7);
    expect(r.at(3)).toBeUndefined();
    expect(r.map((x, i) => x * 10 + i)).toEqual([50, 61, 72]);
  });

  it('stays bounded over a long run', () => {
    const r = new RingBuffer<{ i: number }>(100);
    for (let i = 0; i < 100_000; i++) r.push({ i });
    expect(r.length).toBe(100);
    expect(r.at(0)?.i).toBe(99_900);
    expect(r.last()?.i).toBe(99_999);
  });

  it('clear empties but keeps total monotonic', () => {
    const r = new RingBuffer<number>(2);
    r.push(1);
    r.push(2);
    r.push(3);
    r.clear();
    expect(r.length).toBe(0);
    expect(r.total).toBe(3);
    r.push(4);
    expect(r.toArray()).toEqual([4]);
  });
});
