/** A tensor as plain data: what checkpoints store and what crosses worker threads. */
export interface SerializedTensor {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}
