import { performance } from 'node:perf_hooks';
import { map, type OperatorFunction } from 'rxjs';
import type { CaptionOutcome, CaptionRecord } from '../src/sinks/caption-record.js';
import type { CaptionedJob } from './caption-batch.js';
import type { FailedJob } from './decode-images.js';

/** What every record names: the model and where it ran. */
export interface ResultMeta {
  modelId: string;
  backend: string;
}

const ms = (x: number): number => Math.round(x * 100) / 100;

/**
 * Turns captioned (or failed) jobs into outcomes: one CaptionRecord per image with caption, words,
 * score, alternatives, attention maps as plain number arrays and per-stage timings measured from
 * the moment the source took the job. Failures pass through as `{ ok: false }` outcomes.
 */
export function toResults(meta: ResultMeta): OperatorFunction<CaptionedJob | FailedJob, CaptionOutcome> {
  return map((item): CaptionOutcome => {
    if (!item.ok) return item;
    const { job, caption: c } = item;
    const now = performance.now();
    const record: CaptionRecord = {
      formatVersion: 1,
      id: job.id,
      source: job.source,
      caption: c.caption,
      words: c.words,
      score: c.score,
      logProb: c.logProb,
      finished: c.finished,
      alternatives: c.alternatives.map((a) => ({ caption: a.caption, words: a.words, score: a.score })),
      gridSize: c.gridSize,
      attention: c.attention.map((a) => Array.from(a, (v) => Math.round(v * 1e5) / 1e5)),
      modelId: meta.modelId,
      backend: meta.backend,
      timings: {
        wait: ms(item.decodeStart - job.receivedAt),
        decode: ms(item.decodeEnd - item.decodeStart),
        batch: ms(item.batchedAt - item.decodeEnd),
        queue: ms(item.waitMs),
        model: ms(item.modelMs),
        total: ms(now - job.receivedAt),
      },
      batchSize: item.batchSize,
      createdAt: new Date().toISOString(),
    };
    return { ok: true, job, record, thumbnail: item.thumbnail };
  });
}
