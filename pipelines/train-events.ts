/**
 * The training pipeline's events: plain data, one `type` per kind, shaped so each maps field for
 * field onto the feed protocol's TrainStepMessage / TrainValidationMessage / TrainEndMessage
 * (see train-feed.ts). A dashboard, a progress bar and a log file are all just subscribers.
 */
import type { ValidationGrounding } from '../src/protocol/messages.js';

export type { ValidationGrounding };

export interface TrainStartEvent {
  type: 'train.start';
  /** First epoch this run executes (0-based; > 0 after --resume). */
  epoch: number;
  step: number;
  resumed: boolean;
  epochs: number;
  trainImages: number;
  valImages: number;
  /** Steps one epoch takes (after --steps-per-epoch). */
  stepsPerEpoch: number;
  batchSize: number;
  vocabSize: number;
  parameters: number;
  cacheImages: boolean;
  /** Threads computing each step (the training thread plus gradient workers). */
  workers: number;
}

export interface TrainStepEvent {
  type: 'train.step';
  epoch: number;
  /** Global optimizer step, 1-based, continuing across resumes. */
  step: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  loss: number;
  crossEntropy: number;
  attentionPenalty: number;
  /** Decoder learning rate after any decay. */
  learningRate: number;
  batchSize: number;
  /** Images per second over the epoch so far (decode + step, i.e. what the pipeline sustains). */
  examplesPerSec: number;
  /** Estimated seconds to the end of the run (epochs, --max-minutes or --max-steps, whichever comes first). */
  etaSec: number;
  durationMs: number;
}

/** A training image whose file could not be decoded; training goes on without it. */
export interface TrainSkippedEvent {
  type: 'train.skipped';
  epoch: number;
  id: string;
  file: string;
  reason: string;
  message: string;
}

export interface TrainEpochEvent {
  type: 'train.epoch';
  epoch: number;
  steps: number;
  examples: number;
  meanLoss: number;
  examplesPerSec: number;
  durationMs: number;
}

/** One validation image of the fixed probe set: what the model says now vs the references. */
export interface TrainProbe {
  id: string;
  path: string;
  caption: string;
  words: string[];
  references: string[];
  gridSize: number;
  /** One map per emitted token (words, then <end> when finished), grid*grid each. */
  attention: number[][];
}

export interface TrainValidationEvent {
  type: 'train.validation';
  epoch: number;
  bleu: [number, number, number, number];
  bestBleu4: number;
  bestEpoch: number;
  epochsSinceImprovement: number;
  /** Decoder learning rate for the next epoch (after a decay made at this validation). */
  learningRate: number;
  improved: boolean;
  lrDecayed: boolean;
  images: number;
  skipped: number;
  unfinishedFraction: number;
  probes: TrainProbe[];
  durationMs: number;
  /** Data sets with scene annotations (synthetic) only: is the model right, and does it look where it should. */
  grounding?: ValidationGrounding;
}

export interface TrainCheckpointEvent {
  type: 'train.checkpoint';
  epoch: number;
  kind: 'best' | 'last';
  dir: string;
}

export interface TrainEndEvent {
  type: 'train.end';
  /** 'completed' also covers the --epochs, --max-minutes and --max-steps limits (see `limit`). */
  reason: 'completed' | 'early-stopped' | 'stopped' | 'failed';
  limit?: 'epochs' | 'max-minutes' | 'max-steps';
  bestBleu4: number;
  bestEpoch: number;
  /** Epochs completed in total (including those before a resume). */
  epochs: number;
  steps: number;
  durationMs: number;
  bestDir: string;
  lastDir: string;
}

export type TrainEvent =
  | TrainStartEvent
  | TrainStepEvent
  | TrainSkippedEvent
  | TrainEpochEvent
  | TrainValidationEvent
  | TrainCheckpointEvent
  | TrainEndEvent;
