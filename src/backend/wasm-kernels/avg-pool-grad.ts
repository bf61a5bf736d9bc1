import * as tf from '@tensorflow/tfjs';
import { attr, runKernelConfig, type WasmKernelArgs } from './kernel-utils.js';

/**
 * Builds an AvgPoolGrad for wasm with a direct path for the common 2x2 window, stride 2, no
 * padding: each input cell belongs to exactly one window, so dx is dy repeated 2x2 times 0.25
 * (cells a 'valid' pool never reads, the last row/column of an odd size, get 0). The stock
 * kernel's general loop was measured ~10x slower than the forward pool. Other configurations
 * go to the stock kernel.
 */
export function makeAvgPoolGrad(stock: tf.KernelConfig): (args: WasmKernelArgs) => tf.TensorInfo {
  return ({ inputs, backend, attrs }) => {
    const dy = inputs.dy as tf.TensorInfo;
    const input = inputs.input as tf.TensorInfo;
    const info = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      attr<[number, number] | number>(attrs, 'filterSize'),
      attr<[number, number] | number>(attrs, 'strides'),
      1,
      attr<'valid' | 'same' | number>(attrs, 'pad'),
      attr<'floor' | 'round' | 'ceil' | undefined>(attrs, 'dimRoundingMode'),
    );
    const { top, bottom, left, right } = info.padInfo;
    const simple =
      info.filterHeight === 2 && info.filterWidth === 2 && info.strideHeight === 2 && info.strideWidth === 2 &&
      top === 0 && bottom === 0 && left === 0 && right === 0 && dy.dtype === 'float32';
    if (!simple) return runKernelConfig(stock, backend, inputs, attrs ?? {});

    const [batch, inH, inW, channels] = input.shape as [number, number, number, number];
    const [outH, outW] = [info.outHeight, info.outWidth];
    const dx = backend.makeOutput(input.shape, 'float32');
    const out = backend.typedArrayFromHeap(dx);
    const src = backend.typedArrayFromHeap(dy);
    if (outH * 2 !== inH || outW * 2 !== inW) out.fill(0);
    const rowStride = inW * channels;
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < outH; i++) {
        const top0 = (b * inH + 2 * i) * rowStride;
        const srcRow = (b * outH + i) * outW * channels;
        for (let j = 0; j < outW; j++) {
          const d0 = top0 + 2 * j * channels;
          const d1 = d0 + rowStride;
          const s = srcRow + j * channels;
          for (let c = 0; c < channels; c++) {
            const v = (src[s + c] as number) * 0.25;
            out[d0 + c] = v;
            out[d0 + channels + c] = v;
            out[d1 + c] = v;
            out[d1 + channels + c] = v;
          }
        }
      }
    }
    return dx;
  };
}
