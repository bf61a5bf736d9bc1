import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { attr, disposeInfos, runKernelConfig, runWasmKernel, type WasmKernelArgs } from './kernel-utils.js';

/**
 * Builds Conv2DBackpropInput for wasm. The stock wasm kernel is correct but ~13x slower than the
 * forward conv of the same size. For stride 1 the input gradient is a forward convolution of dy
 * (padded by k-1-p) with the filter rotated 180 degrees and its channel axes swapped, which runs
 * on wasm's fast Conv2D. Strided or NCHW convs, and explicit pads wider than the filter, go to
 * the stock kernel.
 */
export function makeConv2DBackpropInput(stock: tf.KernelConfig): (args: WasmKernelArgs) => tf.TensorInfo {
  return ({ inputs, backend, attrs }) => {
    const dy = inputs.dy as tf.TensorInfo;
    const filter = inputs.filter as tf.TensorInfo;
    const inputShape = attr<[number, number, number, number]>(attrs, 'inputShape');
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      attr<[number, number] | number>(attrs, 'strides'),
      1,
      attr<'valid' | 'same' | number | tf.backend_util.ExplicitPadding>(attrs, 'pad'),
      attr<'floor' | 'round' | 'ceil' | undefined>(attrs, 'dimRoundingMode'),
    );
    const { top, bottom, left, right } = info.padInfo;
    const [kh, kw] = [info.filterHeight, info.filterWidth];
    const pads = [kh - 1 - top, kh - 1 - bottom, kw - 1 - left, kw - 1 - right];
    const fast =
      attr<string>(attrs, 'dataFormat') !== 'NCHW' &&
      info.strideHeight === 1 &&
      info.strideWidth === 1 &&
      filter.dtype === 'float32' &&
      pads.every((p) => p >= 0);
    if (!fast) return runKernelConfig(stock, backend, inputs, attrs ?? {});

    const rotated = rotateFilter(backend, filter);
    const dx = runWasmKernel('Conv2D', backend, { x: dy, filter: rotated }, {
      strides: [1, 1],
      pad: [[0, 0], [pads[0] as number, pads[1] as number], [pads[2] as number, pads[3] as number], [0, 0]],
      dilations: [1, 1],
      dataFormat: 'NHWC',
    });
    disposeInfos(backend, rotated);
    return dx;
  };
}

/** [kh, kw, inC, outC] -> [kh, kw, outC, inC] reversed on both spatial axes, in one pass. */
function rotateFilter(backend: BackendWasm, filter: tf.TensorInfo): tf.TensorInfo {
  const [kh, kw, inC, outC] = filter.shape as [number, number, number, number];
  const out = backend.makeOutput([kh, kw, outC, inC], 'float32');
  const dst = backend.typedArrayFromHeap(out);
  const src = backend.typedArrayFromHeap(filter);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const srcBase = ((kh - 1 - i) * kw + (kw - 1 - j)) * inC * outC;
      const dstBase = (i * kw + j) * outC * inC;
      for (let ci = 0; ci < inC; ci++) {
        for (let co = 0; co < outC; co++) {
          dst[dstBase + co * inC + ci] = src[srcBase + ci * outC + co] as number;
        }
      }
    }
  }
  return out;
}
