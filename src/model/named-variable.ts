import type * as tf from '@tensorflow/tfjs';

/** A weight with its canonical, instance-independent name (e.g. "decoder/fc/kernel"). */
export interface NamedVariable {
  name: string;
  variable: tf.Variable;
}
