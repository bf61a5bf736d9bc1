import * as tf from '@tensorflow/tfjs';
import { attr, disposeInfos, runWasmKernel, wasmTranspose, type WasmKernelArgs } from './kernel-utils.js';

/**
 * Conv2DBackpropFilter for wasm, which ships none (so conv nets cannot train there).
 *
 * dW[i, j, ci, co] = sum over b, oh, ow of xPadded[b, oh*s + i, ow*s + j, ci] * dy[b, oh, ow, co]
 * is itself a forward convolution once batch and channels swap roles: the input is x transposed
 * to [inC, H, W, B], the "filter" is dy transposed to [outH, outW, B, outC], and the stride s of
 * the original conv becomes the dilation of this one. That reuses wasm's fast Conv2D for every
 * stride and padding (measured ~60x faster than the cpu kernel). The result [inC, >=kh, >=kw,
 * outC] is cropped to the filter size (rows a 'valid' strided conv never reads) and transposed.
 */
export function conv2DBackpropFilter({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  const filterShape = attr<[number, number, number, number]>(attrs, 'filterShape');
  const dataFormat = attr<'NHWC' | 'NCHW'>(attrs, 'dataFormat');
  if (dataFormat === 'NCHW') {
    throw new Error("Conv2DBackpropFilter on wasm supports dataFormat 'NHWC' only (wasm's Conv2D does too)");
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    attr<[number, number] | number>(attrs, 'strides'),
    1,
    attr<'valid' | 'same' | number | tf.backend_util.ExplicitPadding>(attrs, 'pad'),
    attr<'floor' | 'round' | 'ceil' | undefined>(attrs, 'dimRoundingMode'),
  );
  const { top, bottom, left, right } = info.padInfo;
  const [kh, kw] = [info.filterHeight, info.filterWidth];

  const xT = wasmTranspose(backend, x, [3, 1, 2, 0]);
  const dyT = wasmTranspose(backend, dy, [1, 2, 0, 3]);
  const full = runWasmKernel('Conv2D', backend, { x: xT, filter: dyT }, {
    strides: [1, 1],
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dilations: [info.strideHeight, info.strideWidth],
    dataFormat: 'NHWC',
  });
  disposeInfos(backend, xT, dyT);

  let cropped = full;
  if (full.shape[1] !== kh || full.shape[2] !== kw) {
    cropped = runWasmKernel('Slice', backend, { x: full }, {
      begin: [0, 0, 0, 0],
      size: [info.inChannels, kh, kw, info.outChannels],
    });
    disposeInfos(backend, full);
  }
  const dw = wasmTranspose(backend, cropped, [1, 2, 0, 3]);
  disposeInfos(backend, cropped);
  return dw;
}
