/**
 * Graceful shutdown for the long-running commands (watch, kafka): the first SIGINT/SIGTERM calls
 * `stop` (finish in-flight work); a second one exits at once. A launcher (npx, tsx) may relay the
 * signal the process group already got, so a repeat within `relayWindowMs` counts as the same one.
 * Returns the function that removes the handlers.
 */
export function stopOnSignals(stop: () => Promise<void>, log: (line: string) => void, relayWindowMs = 1000): () => void {
  let firstAt: number | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (firstAt !== undefined) {
      if (Date.now() - firstAt < relayWindowMs) return;
      log(`${sig} again: exiting now (unfinished images are redone at the next start)`);
      process.exit(130);
    }
    firstAt = Date.now();
    log(`${sig}: finishing in-flight images (send ${sig} again to exit at once)`);
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
 * and logs `summary()`.
 */
export async function runUntilStopped(service: { done: Promise<unknown>; stop(): Promise<void> }, log: (line: string) => void, summary: () => string): Promise<void> {
  const removeHandlers = stopOnSignals(() => service.stop(), log);
  try {
    await service.done;
  } finally {
    await service.stop();
    removeHandlers();
    log(`stopped: ${summary()}`);
  }
}
