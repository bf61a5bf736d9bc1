import { performance } from 'node:perf_hooks';
import { Subject, type Observable } from 'rxjs';
import { settleOnce, type Job } from './job.js';

/** What an HTTP caller waits for: settled when the job's outcome is known. */
export type HttpOutcome<R> = { ok: true; record: R } | { ok: false; reason: string; message: string };

export interface HttpSource<R> {
  /** Jobs of uploaded images; completes on close(). */
  readonly jobs$: Observable<Job>;
  /**
   * Queues uploaded bytes as a job; resolves with its outcome once `resolve()` is called for it.
   * Answers `{ ok: false, reason: 'busy' }` at once when `maxInFlight` uploads are pending, and
   * `'shutdown'` after close().
   */
  submit(bytes: Buffer): Promise<HttpOutcome<R>>;
  /** Hands a job's outcome to its waiting caller; ignores jobs of other sources. */
  resolve(job: Job, outcome: HttpOutcome<R>): void;
  readonly inFlight: number;
  /** Stops accepting uploads and completes jobs$ (pending ones still get their outcome). */
  close(): void;
}

/**
 * Uploads (POST /caption) as a job source, so they go through the same decoder, batcher and
 * replicas as watched files. Nothing is durable: a caller whose server dies simply gets no answer.
 */
export function createHttpSource<R>(opts: { maxInFlight?: number } = {}): HttpSource<R> {
  const maxInFlight = opts.maxInFlight ?? 64;
  const jobs = new Subject<Job>();
  const waiting = new Map<Job, (o: HttpOutcome<R>) => void>();
  let seq = 0;
  let closed = false;
  return {
    jobs$: jobs.asObservable(),
    get inFlight() {
      return waiting.size;
    },
    submit(bytes) {
      if (closed) return Promise.resolve({ ok: false, reason: 'shutdown', message: 'the service is shutting down' });
      if (waiting.size >= maxInFlight) {
        return Promise.resolve({ ok: false, reason: 'busy', message: `${maxInFlight} uploads are already being captioned; retry shortly` });
      }
      return new Promise<HttpOutcome<R>>((res) => {
        const { ack, fail } = settleOnce(
          async () => undefined,
          async () => undefined,
        );
        const job: Job = { id: `http-${Date.now().toString(36)}-${++seq}`, bytes, source: 'http', receivedAt: performance.now(), ack, fail };
        waiting.set(job, res);
        jobs.next(job);
      });
    },
    resolve(job, outcome) {
      const res = waiting.get(job);
      if (!res) return;
      waiting.delete(job);
      res(outcome);
    },
    close() {
      closed = true;
      jobs.complete();
    },
  };
}
