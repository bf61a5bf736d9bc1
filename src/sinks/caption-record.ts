import type { FailureReason, Job } from '../sources/job.js';

/** One alternative hypothesis of a result. */
export interface RecordAlternative {
  caption: string;
  words: string[];
  score: number;
}

/**
 * The result of one image: what the files sink writes as JSON and what feeds and Kafka carry.
 * Plain data, stable field names: consumers parse these files.
 */
export interface CaptionRecord {
  formatVersion: 1;
  id: string;
  source: string;
  caption: string;
  words: string[];
  /** The ranking score: logProb as the search's re-scorers left it (plus the word detector's agreement when on). */
  score: number;
  /** Summed log-probability of the caption's words. */
  logProb: number;
  /** False when the beam hit its step cap before <end>. */
  finished: boolean;
  alternatives: RecordAlternative[];
  gridSize: number;
  /** One grid*grid map per emitted token (the words, then <end> when finished), row-major. */
  attention: number[][];
  modelId: string;
  backend: string;
  /** Milliseconds per stage: decode, batch (waiting for the batch to fill), queue (for a replica), model, total. */
  timings: Record<string, number>;
  batchSize: number;
  createdAt: string;
}

/** What the caption graph emits per job: a record, or why there is none. The job is not yet settled. */
export type CaptionOutcome =
  | { ok: true; job: Job; record: CaptionRecord; thumbnail?: Buffer }
  | { ok: false; job: Job; reason: FailureReason; message: string };
