/**
 * Retries a produce until the broker takes it or the caller gives up (shutdown). A result or dead
 * letter that cannot be produced is not the input's fault: dead-lettering it (which needs the same
 * broker) or failing the service would lose it or stop everything, so the job holds its credit and
 * its offset stays uncommitted while the broker is away; on shutdown it is left for redelivery.
 * The first attempt is always made (a graceful stop still delivers what it can); only retries are
 * cut short by `stopping`. Returns true once delivered, false when `stopping` won.
 */
export async function deliverPatiently(
  send: () => Promise<void>,
  stopping: { readonly stopped: boolean; readonly signal: Promise<void> },
  onRetry?: (attempt: number, error: unknown) => void,
  delays = { firstMs: 250, maxMs: 5000 },
): Promise<boolean> {
  // Errors that retrying cannot fix (a record too large for the broker, no such topic) are thrown.
  let delay = delays.firstMs;
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1 && stopping.stopped) return false;
    try {
      await send();
      return true;
    } catch (e) {
      if (!isRetriable(e)) throw e;
      if (stopping.stopped) return false;
      onRetry?.(attempt, e);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopping.signal, new Promise((r) => (timer = setTimeout(r, delay)))]);
      clearTimeout(timer);
      delay = Math.min(delay * 2, delays.maxMs);
    }
  }
}

/** A one-shot stop flag with a promise that settles when it is raised (for deliverPatiently). */
export class StopFlag {
  stopped = false;
  private raise!: () => void;
  readonly signal = new Promise<void>((r) => (this.raise = r));

  stop(): void {
    this.stopped = true;
    this.raise();
  }
}

/** Protocol errors about the record itself: producing it again cannot succeed. */
const RECORD_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_REQUIRED_ACKS', 'TOPIC_AUTHORIZATION_FAILED', 'INVALID_TOPIC_EXCEPTION']);

/**
 * Whether retrying may help. Infrastructure trouble is retried whatever the client calls it (kafkajs
 * reports a refused connection after its own retries as a "non-retriable" error, with the cause
 * only in the message); only protocol errors about the record itself and our own misuse (a send
 * after stop()) are not.
 */
export function isRetriable(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 5; x = (x as Error & { cause?: unknown }).cause, depth++) {
    const k = x as Error & { type?: string };
    if (k.type !== undefined && RECORD_ERRORS.has(k.type)) return false;
    if (/after stop\(\)|after close\(\)/.test(k.message)) return false;
  }
  return e instanceof Error;
}
