/**
 * The reference's validation-driven schedule as a pure function: after each epoch's validation,
 * BLEU-4 either improves the best score (reset the counter, keep the checkpoint) or the counter of
 * epochs without improvement grows; at `patience` training stops, and every `decayEvery` epochs
 * without improvement the learning rates are multiplied by `decayFactor`.
 */

export interface ScheduleOptions {
  /** Stop after this many epochs without BLEU-4 improvement (reference: 20). */
  patience: number;
  /** Decay the learning rate after every this many epochs without improvement (reference: 8). */
  decayEvery: number;
  /** Learning-rate multiplier at each decay (reference: 0.8). */
  decayFactor: number;
}

export const REFERENCE_SCHEDULE: ScheduleOptions = { patience: 20, decayEvery: 8, decayFactor: 0.8 };

/** What the schedule remembers between epochs; saved in the 'last' checkpoint for resume. */
export interface ScheduleState {
  /** Best validation BLEU-4 so far; -1 before the first validation so any score improves on it. */
  bestBleu4: number;
  /** Epoch (0-based) of the best score, -1 before the first validation. */
  bestEpoch: number;
  epochsSinceImprovement: number;
  /** Product of all decays applied so far: current lr = initial lr x lrScale. */
  lrScale: number;
}

export interface ScheduleDecision {
  state: ScheduleState;
  improved: boolean;
  /** The learning rates were multiplied by decayFactor at this epoch. */
  decayed: boolean;
  stop: boolean;
}

export function initialSchedule(): ScheduleState {
  return { bestBleu4: -1, bestEpoch: -1, epochsSinceImprovement: 0, lrScale: 1 };
}

/** Checks options before a run starts, with the constraint and the fix in the message. */
export function validateSchedule(o: ScheduleOptions): void {
  if (!Number.isInteger(o.patience) || o.patience < 1) throw new RangeError(`patience must be a positive integer (epochs), got ${o.patience}`);
  if (!Number.isInteger(o.decayEvery) || o.decayEvery < 1) throw new RangeError(`decayEvery must be a positive integer (epochs), got ${o.decayEvery}`);
  if (!(o.decayFactor > 0 && o.decayFactor <= 1)) throw new RangeError(`decayFactor must be in (0, 1], got ${o.decayFactor}`);
}

/**
 * Next schedule state after validating `epoch` with score `bleu4`. Improvement is strict (a tie is
 * not an improvement, as in the reference). The stop check comes before the decay check, so at
 * patience 20 / decay 8 the learning rate decays at 8 and 16 epochs without improvement and the run
 * stops at 20.
 */
export function nextSchedule(state: ScheduleState, epoch: number, bleu4: number, o: ScheduleOptions): ScheduleDecision {
  if (bleu4 > state.bestBleu4) {
    return { state: { ...state, bestBleu4: bleu4, bestEpoch: epoch, epochsSinceImprovement: 0 }, improved: true, decayed: false, stop: false };
  }
  const since = state.epochsSinceImprovement + 1;
  if (since >= o.patience) {
    return { state: { ...state, epochsSinceImprovement: since }, improved: false, decayed: false, stop: true };
  }
  const decayed = since % o.decayEvery === 0;
  const lrScale = decayed ? state.lrScale * o.decayFactor : state.lrScale;
  return { state: { ...state, epochsSinceImprovement: since, lrScale }, improved: false, decayed, stop: false };
}

/**
 * Learning-rate multiplier of a cosine anneal over a budget of minutes or steps: 1 at the start,
 * `floor` at `over` and after. A run cut by a budget ends with small steps that settle the weights,
 * which a plateau schedule (one validation every few minutes) cannot do within a short budget.
 */
export function annealFactor(progress: number, over: number, floor: number): number {
  const x = Math.min(1, Math.max(0, progress / over));
  return floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * x));
}
