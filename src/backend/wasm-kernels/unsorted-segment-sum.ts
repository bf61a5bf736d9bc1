import * as tf from '@tensorflow/tfjs';
import { attr, type WasmKernelArgs } from './kernel-utils.js';

/**
 * UnsortedSegmentSum for wasm, which ships none. It is the gradient of `gather`, i.e. of every
 * embedding lookup. The cpu kernel builds one mask per segment (O(numSegments x size), seconds
 * per step for a vocabulary-sized embedding); this is a single scatter-add pass over the data.
 *
 * TensorFlow semantics: output shape `[numSegments, ...x.shape.slice(segmentIds.rank)]`; rows
 * whose id lies outside `[0, numSegments)` are dropped.
 */
export function unsortedSegmentSum({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  const segmentIds = inputs.segmentIds as tf.TensorInfo;
  const numSegments = attr<number>(attrs, 'numSegments');
  const idsRank = segmentIds.shape.length;
  const rowShape = x.shape.slice(idsRank);
  const rowSize = tf.util.sizeFromShape(rowShape);
  const numIds = tf.util.sizeFromShape(segmentIds.shape);

  const out = backend.makeOutput([numSegments, ...rowShape], x.dtype);
  // Heap views are taken after the last allocation: growing wasm memory detaches older views.
  const outValues = backend.typedArrayFromHeap(out);
  const xValues = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  outValues.fill(0);
  for (let i = 0; i < numIds; i++) {
    const id = ids[i] as number;
    if (!(id >= 0 && id < numSegments)) continue;
    const src = i * rowSize;
    const dst = id * rowSize;
    for (let j = 0; j < rowSize; j++) {
      outValues[dst + j] = (outValues[dst + j] as number) + (xValues[src + j] as number);
    }
  }
  return out;
}
