import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { liveCounts, randomValues, relativeError, runManyOn, runOn, setUpBothBackends } from './backend-compare.js';

beforeAll(setUpBothBackends);

describe('UnsortedSegmentSum on wasm (missing from stock wasm)', () => {
  const cases = [
    { x: [7, 4], ids: [0, 2, 2, 5, 0, 1, 2], numSegments: 6 },
    { x: [5, 3, 2], ids: [1, 1, 1, 0, 3], numSegments: 4 },
    { x: [6], ids: [3, 0, 3, 3, 1, 0], numSegments: 5 },
    // Ids outside [0, numSegments) are dropped, as on cpu and in TensorFlow.
    { x: [4, 3], ids: [0, -1, 9, 2], numSegments: 3 },
  ];
  it.each(cases)('matches the cpu kernel: x $x, ids $ids', async (c) => {
    const xv = randomValues(tf.util.sizeFromShape(c.x), 11);
    const f = (): tf.Tensor =>
      tf.unsortedSegmentSum(tf.tensor(xv, c.x), tf.tensor1d(c.ids, 'int32'), c.numSegments);
    const ref = await runOn('cpu', f);
    const got = await runOn('wasm', f);
    expect(relativeError(got, ref)).toBeLessThan(1e-6);
  });

  it('gives an embedding (gather) gradient equal to cpu, without leaks', async () => {
    const [vocab, dim] = [50, 8];
    const ev = randomValues(vocab * dim, 12);
    const ids = [3, 7, 3, 49, 0, 7, 7, 12, 3, 3];
    const rv = randomValues(2 * 5 * dim, 13);
    const f = (): tf.Tensor[] => {
      const r = tf.tensor(rv, [2, 5, dim]);
      const idx = tf.tensor2d(ids, [2, 5], 'int32');
      return [tf.grad((e: tf.Tensor) => tf.gather(e, idx).tanh().mul(r).sum())(tf.tensor(ev, [vocab, dim]))];
    };
    const [ref] = await runManyOn('cpu', f);
    const before = liveCounts();
    const [got] = await runManyOn('wasm', f);
    expect(liveCounts()).toEqual(before);
    expect(relativeError(got!, ref!)).toBeLessThan(1e-5);
  });
});

describe('BatchMatMul on wasm (transposes made explicit)', () => {
  const shapes = [
    { a: [6, 5], b: [5, 7] },
    { a: [3, 4, 5], b: [3, 5, 2] },
    { a: [1, 4, 5], b: [3, 5, 2] }, // batch broadcast
    { a: [2, 1, 9], b: [2, 9, 1] },
    // wide enough (>= 8) on the transposed side for the explicit-transpose route
    { a: [20, 10], b: [10, 9] },
    { a: [3, 9, 10], b: [10, 12] },
    { a: [2, 3, 8, 5], b: [1, 5, 9] },
    // b without a real batch: a's batch is folded into rows
    { a: [3, 4, 5], b: [5, 2] },
    { a: [3, 4, 5], b: [1, 5, 2] },
    { a: [2, 3, 4, 5], b: [1, 5, 2] },
    { a: [4, 5], b: [1, 1, 5, 2] },
    // inner dimension 1: outer products, batched or not
    { a: [5, 7, 1], b: [5, 1, 3] },
    { a: [5, 1, 1], b: [5, 1, 3] },
    { a: [2, 5, 4, 1], b: [5, 1, 3] },
    { a: [6, 1], b: [1, 4] },
    // b a single column: with transposeA, a weighted sum of a's rows
    { a: [7, 9], b: [9, 1] },
    { a: [3, 7, 9], b: [3, 9, 1] },
    { a: [3, 7, 9], b: [9, 1] },
    { a: [1, 7, 9], b: [2, 9, 1] },
  ];
  const combos = shapes.flatMap((s) =>
    [[false, true], [true, false], [true, true], [false, false]].map(([ta, tb]) => ({ ...s, ta: ta!, tb: tb! })),
  );
  const transposed = (shape: number[], t: boolean): number[] =>
    t ? [...shape.slice(0, -2), shape[shape.length - 1]!, shape[shape.length - 2]!] : shape;

  it.each(combos)('matches cpu: a $a b $b transposeA $ta transposeB $tb', async (c) => {
    const aShape = transposed(c.a, c.ta);
    const bShape = transposed(c.b, c.tb);
    const av = randomValues(tf.util.sizeFromShape(aShape), 21);
    const bv = randomValues(tf.util.sizeFromShape(bShape), 22);
    const f = (): tf.Tensor => tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), c.ta, c.tb);
    const ref = await runOn('cpu', f);
    const before = liveCounts();
    const got = await runOn('wasm', f);
    expect(liveCounts()).toEqual(before);
    expect(relativeError(got, ref)).toBeLessThan(1e-5);
  });

  it('gives matMul gradients (which use the transposed forms) equal to cpu, without leaks', async () => {
    const av = randomValues(4 * 6 * 5, 23);
    const bv = randomValues(5 * 3, 24);
    const f = (): tf.Tensor[] =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.matMul(a.reshape([24, 5]), b).sigmoid().sum())([
        tf.tensor(av, [4, 6, 5]),
        tf.tensor(bv, [5, 3]),
      ]);
    const ref = await runManyOn('cpu', f);
    const before = liveCounts();
    const got = await runManyOn('wasm', f);
    expect(liveCounts()).toEqual(before);
    expect(relativeError(got[0]!, ref[0]!)).toBeLessThan(1e-5);
    expect(relativeError(got[1]!, ref[1]!)).toBeLessThan(1e-5);
  });
});

describe('attention-context product [B,1,L] x [B,L,E] (its feature gradient is an outer product)', () => {
  it('gradients equal cpu without leaks', async () => {
    const alphaV = randomValues(4 * 1 * 6, 25);
    const featV = randomValues(4 * 6 * 5, 26);
    const f = (): tf.Tensor[] =>
      tf.grads((alpha: tf.Tensor, feats: tf.Tensor) => tf.matMul(alpha, feats).tanh().sum())([
        tf.tensor(alphaV, [4, 1, 6]),
        tf.tensor(featV, [4, 6, 5]),
      ]);
    const ref = await runManyOn('cpu', f);
    const before = liveCounts();
    const got = await runManyOn('wasm', f);
    expect(liveCounts()).toEqual(before);
    expect(relativeError(got[0]!, ref[0]!)).toBeLessThan(1e-5);
    expect(relativeError(got[1]!, ref[1]!)).toBeLessThan(1e-5);
  });
});

describe('Identity on wasm (shares the buffer)', () => {
  it('a clone keeps its values after the source is disposed', async () => {
    const before = liveCounts();
    const x = tf.tensor([1, 2, 3, 4], [2, 2]);
    const y = tf.clone(x);
    x.dispose();
    expect(Array.from(await y.data())).toEqual([1, 2, 3, 4]);
    expect(y.shape).toEqual([2, 2]);
    y.dispose();
    expect(liveCounts()).toEqual(before);
  });

  it('a clone of a variable is not changed by assign', async () => {
    const v = tf.variable(tf.tensor([1, 2, 3]));
    const snapshot = tf.clone(v);
    tf.tidy(() => v.assign(tf.tensor([7, 8, 9])));
    expect(Array.from(await snapshot.data())).toEqual([1, 2, 3]);
    expect(Array.from(await v.data())).toEqual([7, 8, 9]);
    tf.dispose([v, snapshot]);
  });

  it('an optimizer step on wasm equals the cpu step (saved-for-backprop tensors go through Identity)', async () => {
    const wv = randomValues(6 * 4, 31);
    const xv = randomValues(5 * 6, 32);
    const step = (): tf.Tensor[] => {
      const w = tf.variable(tf.tensor(wv, [6, 4]));
      const x = tf.tensor(xv, [5, 6]);
      const opt = tf.train.adam(0.1);
      for (let i = 0; i < 3; i++) opt.minimize(() => tf.matMul(x, w).tanh().square().mean() as tf.Scalar);
      const out = w.clone();
      opt.dispose();
      w.dispose();
      return [out];
    };
    const [ref] = await runManyOn('cpu', step);
    const before = liveCounts();
    const [got] = await runManyOn('wasm', step);
    expect(liveCounts()).toEqual(before);
    expect(relativeError(got!, ref!)).toBeLessThan(1e-5);
  });
});
