import * as tf from '@tensorflow/tfjs';

/**
 * Training speed-ups for the native TensorFlow backend, through tfjs's own extension points: a
 * kernel registered for the 'tensorflow' backend, and a gradient that uses it there.
 *
 * ReLU's gradient. tfjs writes it as dy * step(x), and tfjs-node builds step() from six full-size
 * kernels (isNaN, greater, ones, fill and two selects). Attention applies ReLU to a [B, k, L, att]
 * tensor every decoder step, so that one gradient took about a fifth of a reference-size training
 * step (pipelines/bench/bench-model.ts). TensorFlow's ReluGrad does it in one pass. It passes dy
 * where x > 0 and 0 elsewhere, NaN included, as PyTorch's ReLU backward does; tfjs's step() would
 * pass NaN on. Other backends keep tfjs's gradient.
 */
const NATIVE_RELU_GRAD = 'CaptionerNativeReluGrad';

/** The slice of tfjs-node's NodeJSKernelBackend this module calls. */
interface NativeBackend {
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: Array<{ name: string; type: number; value: number }>, inputs: tf.TensorInfo[]): tf.TensorInfo;
}

/** Registers the native kernels and the gradients that use them. Idempotent; harmless on other backends. */
export function registerNativeKernels(): void {
  if (tf.getKernel(NATIVE_RELU_GRAD, 'tensorflow') !== undefined) return;
  tf.registerKernel({
    kernelName: NATIVE_RELU_GRAD,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, backend }) => {
      const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
      const native = backend as unknown as NativeBackend;
      // float32 only: the gradient below calls this kernel for float32 tensors alone.
      const T = { name: 'T', type: native.binding.TF_ATTR_TYPE, value: native.binding.TF_FLOAT };
      return native.executeSingleOutput('ReluGrad', [T], [dy, x]);
    },
  });
  tf.registerGradient({
    kernelName: tf.Relu,
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved as [tf.Tensor];
      const d = dy as tf.Tensor;
      const native = tf.getBackend() === 'tensorflow' && x.dtype === 'float32' && d.dtype === 'float32';
      return { x: () => (native ? (tf.engine().runKernel(NATIVE_RELU_GRAD, { dy: d, x }) as tf.Tensor) : tf.mul(d, tf.cast(tf.step(x), 'float32'))) };
    },
  });
}
