import type {
  CaptionFailedMessage,
  CaptionMessage,
  FeedMessage,
  HelloMessage,
  StatsMessage,
  TrainEndMessage,
  TrainStepMessage,
  TrainValidationMessage,
} from '../../../src/protocol/messages.js';
import { RingBuffer } from './ring-buffer.js';
import type { ParsedFrame } from './parse-message.js';

/** Where the WebSocket connection stands. */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** One training step as charted: x is a run-wide step index even when the server counts per epoch. */
export interface StepPoint extends Omit<TrainStepMessage, 'v' | 'type'> {
  x: number;
}

/** One validation pass without its probe images (only the newest probes are kept). */
export type ValidationPoint = Omit<TrainValidationMessage, 'probes'>;

/** History capacities; each is a ring buffer, so memory stays bounded however long the page is open. */
export interface StateCapacities {
  captions: number;
  failures: number;
  stats: number;
  steps: number;
  validations: number;
}

/** Default capacities: ~200 captions with thumbnails, an hour of 1 Hz stats, 20k training steps. */
export const DEFAULT_CAPACITIES: StateCapacities = {
  captions: 200,
  failures: 200,
  stats: 3600,
  steps: 20_000,
  validations: 2000,
};

/** Training history of the current run. */
export interface TrainingState {
  steps: RingBuffer<StepPoint>;
  validations: RingBuffer<ValidationPoint>;
  probes?: TrainValidationMessage;
  end?: TrainEndMessage;
  /** Number of runs seen on this page; a new run starts when steps go backwards or follow a train.end. */
  run: number;
  lastEpoch?: number;
  lastStep?: number;
  lastX: number;
  stepOffset: number;
}

/** Everything the views draw. Mutated in place by {@link applyFrame}; `version` increments on each change. */
export interface DashboardState {
  version: number;
  connection: { status: ConnectionStatus; attempt: number; retryInMs?: number; retryAt?: number; error?: string; url: string };
  hello?: HelloMessage;
  received: number;
  ignored: number;
  /** Set when the server speaks a protocol major version this client cannot read. */
  versionMismatch?: unknown;
  lastMessageAt?: number;
  captions: RingBuffer<CaptionMessage>;
  failures: RingBuffer<CaptionFailedMessage>;
  /** caption.failed counts per reason seen by this page (stats.imagesFailed has the server's totals). */
  failuresByReason: Record<string, number>;
  stats: RingBuffer<StatsMessage>;
  training: TrainingState;
}

function emptyTraining(caps: StateCapacities, run: number): TrainingState {
  return {
    steps: new RingBuffer<StepPoint>(caps.steps),
    validations: new RingBuffer<ValidationPoint>(caps.validations),
    run,
    lastX: 0,
    stepOffset: 0,
  };
}

/** A fresh state for a page connecting to `url`. */
export function createDashboardState(url: string, caps: StateCapacities = DEFAULT_CAPACITIES): DashboardState {
  return {
    version: 0,
    connection: { status: 'connecting', attempt: 0, url },
    received: 0,
    ignored: 0,
    captions: new RingBuffer<CaptionMessage>(caps.captions),
    failures: new RingBuffer<CaptionFailedMessage>(caps.failures),
    failuresByReason: {},
    stats: new RingBuffer<StatsMessage>(caps.stats),
    training: emptyTraining(caps, 0),
  };
}

function capacitiesOf(state: DashboardState): StateCapacities {
  return {
    captions: state.captions.capacity,
    failures: state.failures.capacity,
    stats: state.stats.capacity,
    steps: state.training.steps.capacity,
    validations: state.training.validations.capacity,
  };
}

/**
 * Folds one parsed frame into the state. Cheap and allocation-light on purpose: it runs once per message
 * (hundreds per second), while drawing happens once per animation frame from whatever the state holds.
 */
export function applyFrame(state: DashboardState, frame: ParsedFrame, now: number = Date.now()): void {
  state.version++;
  state.lastMessageAt = now;
  if (frame.kind === 'version') {
    state.versionMismatch = frame.v;
    state.ignored++;
    return;
  }
  if (frame.kind !== 'message') {
    state.ignored++;
    return;
  }
  state.received++;
  applyMessage(state, frame.message);
}

/** Folds one feed message into the state (see {@link applyFrame}). */
export function applyMessage(state: DashboardState, msg: FeedMessage): void {
  state.version++;
  switch (msg.type) {
    case 'hello':
      state.hello = msg;
      state.versionMismatch = undefined;
      break;
    case 'caption':
      state.captions.push(msg);
      break;
    case 'caption.failed':
      state.failures.push(msg);
      state.failuresByReason[msg.reason] = (state.failuresByReason[msg.reason] ?? 0) + 1;
      break;
    case 'stats':
      state.stats.push(msg);
      break;
    case 'train.step':
      applyStep(state, msg);
      break;
    case 'train.validation': {
      const t = startRunIfNeeded(state, undefined);
      const { probes: _probes, ...point } = msg;
      t.validations.push(point);
      t.probes = msg;
      break;
    }
    case 'train.end':
      state.training.end = msg;
      break;
  }
}

/**
 * A new run starts when a step's epoch goes backwards, or when anything arrives after train.end.
 * Validation epochs never trigger it: validation of epoch N may well arrive after epoch N+1's first steps.
 */
function startRunIfNeeded(state: DashboardState, epoch: number | undefined): TrainingState {
  const t = state.training;
  const restarted = t.end !== undefined || (epoch !== undefined && t.lastEpoch !== undefined && epoch < t.lastEpoch);
  if (restarted) state.training = emptyTraining(capacitiesOf(state), t.run + 1);
  return state.training;
}

function applyStep(state: DashboardState, msg: Extract<FeedMessage, { type: 'train.step' }>): void {
  const t = startRunIfNeeded(state, msg.epoch);
  // The server may count steps per epoch; keep x increasing across epochs so the loss curve reads left to right.
  if (t.lastStep !== undefined && msg.step <= t.lastStep) t.stepOffset = t.lastX + 1 - msg.step;
  const x = msg.step + t.stepOffset;
  t.lastStep = msg.step;
  t.lastEpoch = msg.epoch;
  t.lastX = x;
  t.steps.push({
    x,
    ts: msg.ts,
    epoch: msg.epoch,
    step: msg.step,
    loss: msg.loss,
    crossEntropy: msg.crossEntropy,
    attentionPenalty: msg.attentionPenalty,
    learningRate: msg.learningRate,
    examplesPerSec: msg.examplesPerSec,
    etaSec: msg.etaSec,
  });
}

/** Records a connection status change (called by the connection, not by messages). */
export function setConnection(
  state: DashboardState,
  status: ConnectionStatus,
  info: { attempt?: number; retryInMs?: number; error?: string } = {},
  now: number = Date.now(),
): void {
  state.version++;
  const retryAt = info.retryInMs === undefined ? undefined : now + info.retryInMs;
  state.connection = { ...state.connection, status, attempt: info.attempt ?? 0, retryInMs: info.retryInMs, retryAt, error: info.error };
}
