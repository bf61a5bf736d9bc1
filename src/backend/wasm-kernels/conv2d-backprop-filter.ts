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
 *
 * With few input channels (an RGB image's first layer) that conv is a poor fit for wasm's Conv2D
 * (three "images" under a filter as large as the feature map), so there each filter tap (i, j) is
 * one matrix product instead: the padded input, channels first, sliced at the tap's offset and
 * stride to [inC, B*outH*outW], times dy as [B*outH*outW, outC]. First layer of the default model,
 * [32,64,64,3] -> 32: 26 ms instead of 87 (pipelines/bench/bench-step-profile.ts).
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
  if (info.inChannels <= FEW_CHANNELS) return filterGradientByTaps(backend, x, dy, info);
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

/** Input channels up to which filterGradientByTaps wins (measured at 3 against 32: 3.3x faster and even). */
const FEW_CHANNELS = 4;

/** dW[i, j] = x at tap (i, j) as [inC, N] times dy as [N, outC], N = B*outH*outW, for each tap. */
function filterGradientByTaps(backend: WasmKernelArgs['backend'], x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const { top, bottom, left, right } = info.padInfo;
  const { batchSize, inChannels, outChannels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const n = batchSize * outHeight * outWidth;
  const padded = runWasmKernel('PadV2', backend, { x }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 });
  const channelsFirst = wasmTranspose(backend, padded, [3, 0, 1, 2]);
  disposeInfos(backend, padded);
  const dyRows = runWasmKernel('Reshape', backend, { x: dy }, { shape: [1, n, outChannels] });
  const taps: tf.TensorInfo[] = [];
  for (let i = 0; i < filterHeight; i++) {
    for (let j = 0; j < filterWidth; j++) {
      const tap = runWasmKernel('StridedSlice', backend, { x: channelsFirst }, {
        begin: [0, 0, i, j],
        end: [inChannels, batchSize, i + (outHeight - 1) * strideHeight + 1, j + (outWidth - 1) * strideWidth + 1],
        strides: [1, 1, strideHeight, strideWidth],
        beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0,
      });
      const rows = runWasmKernel('Reshape', backend, { x: tap }, { shape: [1, inChannels, n] });
      taps.push(runWasmKernel('BatchMatMul', backend, { a: rows, b: dyRows }, { transposeA: false, transposeB: false }));
      disposeInfos(backend, tap, rows);
    }
  }
  disposeInfos(backend, channelsFirst, dyRows);
  const stacked = runWasmKernel('Concat', backend, taps as unknown as tf.NamedTensorInfoMap, { axis: 0 }); // Concat takes its inputs as an array
  disposeInfos(backend, ...taps);
  const dw = runWasmKernel('Reshape', backend, { x: stacked }, { shape: [filterHeight, filterWidth, inChannels, outChannels] });
  disposeInfos(backend, stacked);
  return dw;
}
