import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { liveCounts, randomValues, relativeError, runOn, setUpBothBackends } from './backend-compare.js';

type Pad = 'same' | 'valid' | number;
interface ConvCase {
  x: [number, number, number, number];
  k: [number, number];
  outC: number;
  strides: [number, number];
  pad: Pad;
}

// Strides 1 and 2 (and mixed), 'same' / 'valid' / numeric padding, odd and even sizes,
// non-square filters, batch 1 and > 1, single channels and more (6 to 16).
const CASES: ConvCase[] = [
  { x: [2, 9, 9, 3], k: [3, 3], outC: 4, strides: [1, 1], pad: 'same' },
  { x: [3, 8, 10, 5], k: [3, 3], outC: 6, strides: [1, 1], pad: 'valid' },
  { x: [1, 7, 7, 1], k: [5, 5], outC: 3, strides: [1, 1], pad: 'same' },
  { x: [2, 11, 6, 4], k: [3, 2], outC: 2, strides: [1, 1], pad: 'same' },
  { x: [2, 6, 6, 3], k: [1, 1], outC: 5, strides: [1, 1], pad: 'valid' },
  { x: [2, 7, 8, 3], k: [2, 4], outC: 3, strides: [1, 1], pad: 'same' },
  { x: [2, 9, 9, 3], k: [3, 3], outC: 4, strides: [2, 2], pad: 'same' },
  { x: [2, 10, 10, 3], k: [3, 3], outC: 4, strides: [2, 2], pad: 'same' },
  { x: [3, 9, 8, 2], k: [3, 3], outC: 3, strides: [2, 2], pad: 'valid' },
  { x: [2, 10, 9, 3], k: [4, 4], outC: 2, strides: [2, 2], pad: 'valid' },
  { x: [2, 9, 7, 3], k: [3, 3], outC: 4, strides: [2, 1], pad: 'same' },
  { x: [2, 8, 8, 3], k: [3, 3], outC: 4, strides: [1, 1], pad: 1 },
  { x: [1, 9, 9, 2], k: [3, 3], outC: 3, strides: [2, 2], pad: 1 },
  { x: [2, 6, 6, 2], k: [3, 3], outC: 2, strides: [1, 1], pad: 3 },
  { x: [2, 9, 9, 6], k: [3, 3], outC: 4, strides: [2, 2], pad: 'same' },
  { x: [2, 8, 8, 8], k: [3, 3], outC: 5, strides: [1, 1], pad: 'valid' },
  { x: [1, 7, 7, 16], k: [3, 3], outC: 3, strides: [1, 1], pad: 1 },
];

const name = (c: ConvCase): string =>
  `x ${c.x.join('x')}, k ${c.k.join('x')}->${c.outC}, strides ${c.strides.join(',')}, pad ${c.pad}`;

function outShape(c: ConvCase): [number, number, number, number] {
  const info = tf.backend_util.computeConv2DInfo(c.x, [...c.k, c.x[3], c.outC], c.strides, 1, c.pad);
  return info.outShape;
}

beforeAll(setUpBothBackends);

describe('Conv2DBackpropFilter on wasm (missing from stock wasm)', () => {
  it.each(CASES)('matches the cpu kernel: $x $k $strides $pad', async (c) => {
    const dyShape = outShape(c);
    const xv = randomValues(tf.util.sizeFromShape(c.x), 1);
    const dyv = randomValues(tf.util.sizeFromShape(dyShape), 2);
    const f = (): tf.Tensor =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, c.x), dy: tf.tensor(dyv, dyShape) }, {
        strides: c.strides,
        pad: c.pad,
        dataFormat: 'NHWC',
        dimRoundingMode: undefined,
        filterShape: [...c.k, c.x[3], c.outC],
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const ref = await runOn('cpu', f);
    const got = await runOn('wasm', f);
    expect(relativeError(got, ref), name(c)).toBeLessThan(1e-4);
  });
});

describe('Conv2DBackpropInput on wasm (fast path for stride 1, stock otherwise)', () => {
  it.each(CASES)('matches the cpu kernel: $x $k $strides $pad', async (c) => {
    const dyShape = outShape(c);
    const wShape = [...c.k, c.x[3], c.outC];
    const wv = randomValues(tf.util.sizeFromShape(wShape), 3);
    const dyv = randomValues(tf.util.sizeFromShape(dyShape), 4);
    const f = (): tf.Tensor =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(dyv, dyShape), filter: tf.tensor(wv, wShape) }, {
        strides: c.strides,
        pad: c.pad,
        dataFormat: 'NHWC',
        dimRoundingMode: undefined,
        inputShape: c.x,
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const ref = await runOn('cpu', f);
    const got = await runOn('wasm', f);
    expect(relativeError(got, ref), name(c)).toBeLessThan(1e-4);
  });
});

describe('conv2d gradients end to end (tf.grads)', () => {
  it.each(CASES.filter((_, i) => i % 2 === 0))('wasm equals cpu and leaks nothing: $x $k $strides $pad', async (c) => {
    const wShape = [...c.k, c.x[3], c.outC];
    const xv = randomValues(tf.util.sizeFromShape(c.x), 5);
    const wv = randomValues(tf.util.sizeFromShape(wShape), 6);
    const rv = randomValues(tf.util.sizeFromShape(outShape(c)), 7);
    const grads = (which: 0 | 1) => (): tf.Tensor => {
      const r = tf.tensor(rv, outShape(c));
      const loss = (x: tf.Tensor, w: tf.Tensor): tf.Scalar =>
        tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad).relu().mul(r).sum();
      return tf.grads(loss)([tf.tensor(xv, c.x), tf.tensor(wv, wShape)])[which] as tf.Tensor;
    };
    for (const which of [0, 1] as const) {
      const ref = await runOn('cpu', grads(which));
      const before = liveCounts();
      const got = await runOn('wasm', grads(which));
      expect(liveCounts()).toEqual(before);
      expect(relativeError(got, ref), `${which === 0 ? 'dx' : 'dw'} ${name(c)}`).toBeLessThan(1e-4);
    }
  });
});

describe('AvgPoolGrad on wasm (direct 2x2 stride 2 path, stock otherwise)', () => {
  const cases: { x: [number, number, number, number]; size: number; stride: number; pad: 'same' | 'valid' }[] = [
    { x: [2, 8, 8, 3], size: 2, stride: 2, pad: 'valid' },
    { x: [2, 9, 7, 3], size: 2, stride: 2, pad: 'valid' }, // odd: last row/column get no gradient
    { x: [1, 6, 10, 2], size: 2, stride: 2, pad: 'same' }, // even 'same' pads nothing
    { x: [2, 7, 7, 2], size: 2, stride: 2, pad: 'same' }, // padded: stock
    { x: [2, 9, 9, 2], size: 3, stride: 2, pad: 'valid' }, // stock
    { x: [2, 6, 6, 2], size: 2, stride: 1, pad: 'valid' }, // stock
  ];
  it.each(cases)('tf.grad of avgPool matches cpu without leaks: $x size $size stride $stride $pad', async (c) => {
    const xv = randomValues(tf.util.sizeFromShape(c.x), 41);
    const pooledShape = tf.backend_util.computePool2DInfo(c.x, c.size, c.stride, 1, c.pad).outShape;
    const rv = randomValues(tf.util.sizeFromShape(pooledShape), 42);
    const f = (): tf.Tensor =>
      tf.grad((x: tf.Tensor) => tf.avgPool(x as tf.Tensor4D, c.size, c.stride, c.pad).mul(tf.tensor(rv, pooledShape)).sum())(
        tf.tensor(xv, c.x),
      );
    const ref = await runOn('cpu', f);
    const before = liveCounts();
    const got = await runOn('wasm', f);
    expect(liveCounts()).toEqual(before);
    expect(relativeError(got, ref)).toBeLessThan(1e-5);
  });
});
