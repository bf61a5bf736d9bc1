/**
 * Messages between the replica pool (main thread) and its workers. Plain data only: pixels travel as
 * transferred Float32Arrays, results come back as plain objects; no tensor ever crosses a thread.
 */
import type { PreparedImage, PreprocessConfig } from '../data/types.js';
import type { CaptionOptions } from '../decoding/caption-options.js';
import type { NativeInfo } from '../backend/select-backend.js';

/** Passed as workerData when a replica starts. */
export interface ReplicaInit {
  modelDir: string;
  /** Backend request passed to initBackend (undefined: its default, env CAPTIONER_BACKEND or auto). */
  backend?: string;
  /** Caption a blank image once before reporting ready, so the first real batch is not slow. */
  warmUp: boolean;
}

/** What a replica reports once its model is loaded (and warm). */
export interface ReplicaInfo {
  modelId: string;
  backend: string;
  tfBackend: string;
  gpu: boolean;
  /** The TensorFlow library and thread settings of a native backend. */
  native?: NativeInfo;
  preprocess: PreprocessConfig;
  gridSize: number;
  /** The model has a word detector, so its beams can be re-ranked by it (CaptionOptions.detectorRerank). */
  wordDetector: boolean;
}

/** One hypothesis as plain data. */
export interface PlainHypothesis {
  caption: string;
  words: string[];
  score: number;
  logProb: number;
  finished: boolean;
}

/** One image's caption as plain data. */
export interface ReplicaCaption extends PlainHypothesis {
  alternatives: PlainHypothesis[];
  /** One grid*grid map per emitted token including <end>. */
  attention: Float32Array[];
  gridSize: number;
}

export type ToReplica = { type: 'run'; batchId: number; images: PreparedImage[]; beam: CaptionOptions };

export type FromReplica =
  | { type: 'ready'; info: ReplicaInfo; memory: { numTensors: number; numBytes: number } }
  | { type: 'init-failed'; message: string }
  | {
      type: 'result';
      batchId: number;
      captions: ReplicaCaption[];
      /** Time inside the model (encode + beam search), ms. */
      modelMs: number;
      memory: { numTensors: number; numBytes: number };
    }
  | { type: 'error'; batchId: number; message: string };
