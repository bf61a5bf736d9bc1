/** What the log says on the first signal (what is being finished) and on a second (what is kept). */
export interface StopWording {
  finishing: string;
  onExit: string;
}

const SERVICE_WORDING: StopWording = { finishing: 'finishing in-flight images', onExit: 'unfinished images are redone at the next start' };

/**
 * Graceful shutdown for the long-running commands (watch, kafka, finetune): the first SIGINT/SIGTERM
 * calls `stop` (finish in-flight work); a second one exits at once. A launcher (npx, tsx) may relay the
 * signal the process group already got, so a repeat within `relayWindowMs` counts as the same one.
 * Returns the function that removes the handlers.
 */
export function stopOnSignals(stop: () => Promise<void>, log: (line: string) => void, relayWindowMs = 1000, wording: StopWording = SERVICE_WORDING): () => void {
  let firstAt: number | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (firstAt !== undefined) {
      if (Date.now() - firstAt < relayWindowMs) return;
      log(`${sig} again: exiting now (${wording.onExit})`);
      process.exit(130);
    }
    firstAt = Date.now();
    log(`${sig}: ${wording.finishing} (send ${sig} again to exit at once)`);
    void stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/**
 * Runs a started service until it ends by itself or by a signal (see stopOnSignals), then stops it
 * and logs `summary()`. After a signal, returns as soon as `stop()` resolves, even if the service's
 * `done` is still pending (a Kafka service whose broker is gone stops within its grace period while
 * the client library still retries in the background).
 */
export async function runUntilStopped(service: { done: Promise<unknown>; stop(): Promise<void> }, log: (line: string) => void, summary: () => string): Promise<void> {
  let stoppedBySignal!: () => void;
  const signalled = new Promise<void>((res) => (stoppedBySignal = res));
  const removeHandlers = stopOnSignals(() => service.stop().finally(stoppedBySignal), log);
  try {
    await Promise.race([service.done, signalled]);
  } finally {
    await service.stop();
    removeHandlers();
    log(`stopped: ${summary()}`);
  }
}
