/**
 * The unit of work of the caption service, shared by every source (folder, HTTP, Kafka).
 *
 * A job carries either a path or the bytes of one image and two settle callbacks. Exactly one of
 * `ack()` / `fail()` takes effect (later calls are no-ops): the source uses the first to make the
 * outcome durable (move the input to processed/, commit a Kafka offset, answer an HTTP request)
 * and to give back the credit the job held.
 */
export interface Job {
  /** Unique among the jobs of one source; file names of results derive from it. */
  readonly id: string;
  /** The image as a file; set for file inputs, which the sinks may also read from here. */
  readonly path?: string;
  /** The image's bytes when the source already holds them (else the decoder reads `path`). */
  readonly bytes?: Buffer;
  /** Human-readable origin: a file name, 'http', or topic/partition/offset. */
  readonly source: string;
  /** performance.now() when the source took the job, for end-to-end latency. */
  readonly receivedAt: number;
  /** Settles the job as done; call only after every sink has written its result. */
  ack(): Promise<void>;
  /** Settles the job as failed with a machine-readable reason and a human message. */
  fail(reason: FailureReason, message: string): Promise<void>;
}

/**
 * Why a job failed. The first five come from ImageDecodeError; the rest from the service.
 * Prometheus labels and failed/*.error.json records use these strings.
 */
export type FailureReason =
  | 'not-found'
  | 'empty'
  | 'corrupt'
  | 'unsupported'
  | 'too-large'
  | 'replica-crashed'
  | 'inference-error'
  | 'sink-error'
  | 'shutdown';

/**
 * Wraps two settle callbacks so that only the first call of either takes effect, which is what
 * makes "one result or one error record per input" hold even if two stages race to settle a job.
 */
export function settleOnce(
  onAck: () => Promise<void>,
  onFail: (reason: FailureReason, message: string) => Promise<void>,
): Pick<Job, 'ack' | 'fail'> {
  let settled: Promise<void> | undefined;
  return {
    ack: () => (settled ??= onAck()),
    fail: (reason, message) => (settled ??= onFail(reason, message)),
  };
}
