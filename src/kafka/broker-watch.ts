import { connect } from 'node:net';

/**
 * Is the cluster reachable right now? Probes the bootstrap brokers with a plain TCP connect every
 * `intervalMs` (reachable when any answers). The client library's own view is slow to tell: kafkajs
 * retries a failed fetch for seconds before it reports a crash, and reports nothing while partitions
 * are paused. A TCP answer does not prove the broker serves requests, so the service's readiness
 * also asks the consumer (see ConsumerLink.up).
 */
export class BrokerWatch {
  private timer?: NodeJS.Timeout;
  private state: { reachable: boolean; since: number; error?: string } = { reachable: true, since: Date.now() };
  private probing = false;

  constructor(
    private readonly brokers: string[],
    private readonly onChange: (reachable: boolean, detail: string) => void,
    private readonly intervalMs = 1000,
  ) {}

  get reachable(): boolean {
    return this.state.reachable;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.probe(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One probe now; updates the state and reports a change. */
  async probe(): Promise<boolean> {
    if (this.probing) return this.state.reachable;
    this.probing = true;
    try {
      const errors = await Promise.all(this.brokers.map((b) => tcpProbe(b, Math.min(2000, this.intervalMs * 2))));
      const ok = errors.some((e) => e === undefined);
      if (ok !== this.state.reachable) {
        const away = Date.now() - this.state.since;
        this.state = { reachable: ok, since: Date.now(), error: errors.find((e) => e !== undefined) };
        this.onChange(ok, ok ? `after ${(away / 1000).toFixed(1)} s` : `${this.brokers.join(',')}: ${this.state.error}`);
      }
      return ok;
    } finally {
      this.probing = false;
    }
  }
}

/** Resolves when any of the brokers accepts a TCP connection; rejects with the errors otherwise. */
export async function anyBrokerAnswers(brokers: string[], timeoutMs = 2000): Promise<void> {
  const errors = await Promise.all(brokers.map((b) => tcpProbe(b, timeoutMs)));
  if (errors.some((e) => e === undefined)) return;
  throw new Error(brokers.map((b, i) => `${b}: ${errors[i]}`).join('; '));
}

/** undefined when host:port accepts a TCP connection within timeoutMs, else the error text. */
function tcpProbe(broker: string, timeoutMs: number): Promise<string | undefined> {
  const at = broker.lastIndexOf(':');
  const host = broker.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(broker.slice(at + 1));
  return new Promise((res) => {
    const s = connect({ host, port });
    const done = (e?: string): void => {
      s.destroy();
      res(e);
    };
    s.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    s.once('connect', () => done());
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}
