
/** The cluster did not answer within the start-up wait. */
export class BrokerUnreachableError extends Error {
  override readonly name = 'BrokerUnreachableError';
}

/**
 * Waits at start-up for the cluster to answer (a broker starting alongside the service, a network
 * not up yet): one `probe` per attempt, one log line per failed attempt with the next delay
 * (doubling from `firstDelayMs` to `maxDelayMs`), until it answers (resolving with its answer) or
 * `waitMs` has passed; then throws BrokerUnreachableError naming the last error.
 */
export async function waitForBroker<T>(
  probe: () => Promise<T>,
  opts: { brokers: string[]; waitMs: number; log: (line: string) => void; firstDelayMs?: number; maxDelayMs?: number },
): Promise<T> {
  const t0 = Date.now();
  let delay = opts.firstDelayMs ?? 500;
  for (let attempt = 1; ; attempt++) {
    let error: unknown;
    try {
      const answer = await probe();
      if (attempt > 1) opts.log(`Kafka at ${opts.brokers.join(',')} answered after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return answer;
    } catch (e) {
      error = e;
    }
    const left = opts.waitMs - (Date.now() - t0);
    const why = error instanceof Error ? error.message : String(error);
    if (left <= 0) {
      throw new BrokerUnreachableError(
        `Kafka at ${opts.brokers.join(',')} did not answer within ${(opts.waitMs / 1000).toFixed(0)} s (${attempt} attempts; last: ${why}). Check --brokers / --config and that the broker is up, or wait longer with --broker-wait-ms`,
      );
    }
    const wait = Math.min(delay, left);
    opts.log(`Kafka at ${opts.brokers.join(',')} not reachable (attempt ${attempt}: ${why}); next try in ${(wait / 1000).toFixed(1)} s, giving up in ${(left / 1000).toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, wait));
    delay = Math.min(delay * 2, opts.maxDelayMs ?? 5000);
  }
}
