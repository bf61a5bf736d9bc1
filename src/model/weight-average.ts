import * as tf from '@tensorflow/tfjs';
import type { NamedVariable } from './named-variable.js';
import type { SerializedTensor } from './serialized-tensor.js';

/** The two sets of weights an averaging trainer resumes from. */
export interface AveragingState {
  /** The weights the optimizer is moving (what the next step starts from). */
  live: SerializedTensor[];
  /** Their exponential moving average (what validation scores and checkpoints hold). */
  average: SerializedTensor[];
  /** Updates folded in so far (drives the decay's ramp). */
  updates: number;
}

/**
 * Polyak averaging: an exponential moving average of the trainable weights, updated after every
 * optimizer step. At a learning rate high enough to keep learning, the live weights jitter from step
 * to step; their average sits nearer the middle of the valley they move in and can score better than
 * any one step's weights, though it lags a model that is still improving (a recipe whose learning
 * rate is annealed gains little from it; docs/research-history.md). The decay ramps up as
 * (1 + n) / (10 + n) over the first updates, as TensorFlow's
 * ExponentialMovingAverage does with num_updates, so early averages do not drag the random init.
 */
export class WeightAverage {
  private readonly vars: tf.Variable[];
  private readonly names: string[];
  private readonly shadow: tf.Variable[];
  private live: tf.Tensor[] | null = null;
  private updates = 0;

  constructor(
    weights: NamedVariable[],
    readonly decay: number,
  ) {
    if (!(decay > 0 && decay < 1)) throw new RangeError(`weight average decay must be in (0, 1) (got ${String(decay)})`);
    this.vars = weights.map((w) => w.variable);
    this.names = weights.map((w) => w.name);
    // tf.variable keeps its own reference to the clone's data, so the clone itself is disposed at once.
    this.shadow = this.vars.map((v) => tf.tidy(() => tf.variable(v.clone(), false)));
  }

  /** True while withAverage has the averaged weights in the model. */
  get swapped(): boolean {
    return this.live !== null;
  }

  /** Folds the model's current weights into the average; called after every optimizer step. */
  update(): void {
    if (this.live) throw new Error('weight average: a step ran while the averaged weights were swapped in');
    this.updates++;
    const d = Math.min(this.decay, (1 + this.updates) / (10 + this.updates));
    tf.tidy(() => this.shadow.forEach((s, i) => s.assign(tf.add(tf.mul(s, d), tf.mul(this.vars[i]!, 1 - d)))));
  }

  /** Runs fn with the averaged weights in the model, then puts the live weights back (also on failure). */
  async withAverage<T>(fn: () => Promise<T>): Promise<T> {
    if (this.live) return fn(); // already swapped in by an outer call
    this.live = this.vars.map((v) => v.clone());
    this.vars.forEach((v, i) => v.assign(this.shadow[i]!));
    try {
      return await fn();
    } finally {
      const live = this.live;
      this.vars.forEach((v, i) => v.assign(live[i]!));
      tf.dispose(live);
      this.live = null;
    }
  }

  /** Both weight sets as plain data, whether or not the average is swapped in. */
  async state(): Promise<AveragingState> {
    const dump = async (ts: tf.Tensor[]): Promise<SerializedTensor[]> =>
      Promise.all(ts.map(async (t, i) => ({ name: this.names[i]!, shape: [...t.shape], dtype: 'float32' as const, values: ((await t.data()) as Float32Array).slice() })));
    return { live: await dump(this.live ?? this.vars), average: await dump(this.shadow), updates: this.updates };
  }

  /** Puts saved live weights into the model and saved averages into the shadow (shapes checked, by position). */
  restore(state: AveragingState): void {
    if (this.live) throw new Error('weight average: restore while the averaged weights are swapped in');
    for (const [group, saved] of [['live', state.live], ['average', state.average]] as const) {
      if (saved.length !== this.vars.length) {
        throw new Error(`trainer state holds ${saved.length} ${group} weights but the model has ${this.vars.length} trainable weights: it belongs to another model`);
      }
      saved.forEach((s, i) => {
        if (s.shape.join(',') !== this.vars[i]!.shape.join(',')) {
          throw new Error(`trainer state ${group} weight ${s.name} has shape [${s.shape.join(', ')}], the model's ${this.names[i]!} [${this.vars[i]!.shape.join(', ')}]`);
        }
      });
    }
    tf.tidy(() => {
      state.live.forEach((s, i) => this.vars[i]!.assign(tf.tensor(s.values, s.shape, 'float32')));
      state.average.forEach((s, i) => this.shadow[i]!.assign(tf.tensor(s.values, s.shape, 'float32')));
    });
    this.updates = state.updates;
  }

  dispose(): void {
    if (this.live) tf.dispose(this.live);
    this.live = null;
    tf.dispose(this.shadow);
  }
}
