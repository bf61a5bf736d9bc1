/**
 * Arrivals per second over a sliding window, from a monotonically increasing counter sampled at frame
 * rate. Uses the page's clock, so server clock skew does not distort it.
 */
export class RateMeter {
  private samples: { t: number; total: number }[] = [];

  constructor(private readonly windowMs = 5000) {}

  /** Records the counter's value at time t (ms) and returns the rate in items per second. */
  sample(t: number, total: number): number {
    this.samples.push({ t, total });
    while (this.samples.length > 2 && t - this.samples[1]!.t >= this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const span = t - first.t;
    return span > 0 ? ((total - first.total) * 1000) / span : 0;
  }
}
