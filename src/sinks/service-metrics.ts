import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StatsMessage } from '../protocol/messages.js';
import type { NativeInfo } from '../backend/select-backend.js';
import type { CaptionOutcome } from './caption-record.js';

/** Live numbers the metrics read on every scrape; supplied by whoever owns the queues and replicas. */
export interface ServiceGauges {
  /** Items waiting per stage, e.g. { source: 3, pool: 1 }. */
  queueDepths(): Record<string, number>;
  /** Jobs taken and not yet settled. */
  inFlight(): number;
  /** Live tfjs tensors and bytes over all replicas. */
  tensors(): { numTensors: number; numBytes: number };
  workers(): number;
}

const STAGES = ['wait', 'decode', 'batch', 'queue', 'model', 'total'] as const;
const WINDOW = 1000;

/**
 * The caption service's Prometheus metrics in their own registry (so several services can live in
 * one process, as tests do), plus the rolling figures of the feed's periodic `stats` message.
 * Metric names are prefixed `captioner_`.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly imagesIn = new Counter({ name: 'captioner_images_in_total', help: 'Images taken from sources', registers: [this.registry] });
  private readonly imagesOut = new Counter({ name: 'captioner_images_out_total', help: 'Images captioned', registers: [this.registry] });
  private readonly imagesFailed = new Counter({ name: 'captioner_images_failed_total', help: 'Images that failed, by reason', labelNames: ['reason'], registers: [this.registry] });
  private readonly batchSize = new Histogram({ name: 'captioner_batch_size', help: 'Images per batch formed by the batcher (the pool may merge batches that queued while replicas were busy)', buckets: [1, 2, 4, 8, 16, 32, 64], registers: [this.registry] });
  private readonly stageLatency = new Histogram({
    name: 'captioner_stage_latency_seconds',
    help: 'Time per stage of the caption graph (wait, decode, batch, queue, model, total)',
    labelNames: ['stage'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly feedDropped = new Counter({ name: 'captioner_feed_frames_dropped_total', help: 'Feed frames dropped or degraded for slow clients, by kind', labelNames: ['kind'], registers: [this.registry] });
  private readonly feedClients = new Gauge({ name: 'captioner_feed_clients', help: 'Connected WebSocket clients', registers: [this.registry] });
  private readonly backendGauge = new Gauge({ name: 'captioner_backend_info', help: 'The tfjs backend in use (value 1)', labelNames: ['backend', 'tf_backend', 'gpu'], registers: [this.registry] });
  private readonly tensorflowGauge = new Gauge({ name: 'captioner_tensorflow_info', help: 'The TensorFlow library under a native backend (value 1; absent on wasm and cpu)', labelNames: ['version', 'intra_op_threads', 'inter_op_threads', 'onednn'], registers: [this.registry] });
  private readonly counts = { in: 0, out: 0, failed: {} as Record<string, number> };
  private readonly totals: number[] = [];
  private readonly batches: number[] = [];
  private readonly outTimes: number[] = [];
  private backendName = 'unknown';
  private backendDetail?: string;
  private gauges?: ServiceGauges;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'captioner_' });
    const live = (name: string, help: string, read: (set: (v: number, labels?: Record<string, string>) => void) => void, labelNames: string[] = []): void => {
      const gauge: Gauge = new Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect: () => read((v, labels) => (labels ? gauge.set(labels, v) : gauge.set(v))),
      });
    };
    live('captioner_queue_depth', 'Items waiting per stage', (set) => {
      for (const [stage, n] of Object.entries(this.gauges?.queueDepths() ?? {})) set(n, { stage });
    }, ['stage']);
    live('captioner_in_flight', 'Jobs taken and not yet settled', (set) => set(this.gauges?.inFlight() ?? 0));
    live('captioner_tfjs_tensors', 'Live tfjs tensors over all model replicas', (set) => set(this.gauges?.tensors().numTensors ?? 0));
    live('captioner_tfjs_bytes', 'Bytes held by live tfjs tensors over all model replicas', (set) => set(this.gauges?.tensors().numBytes ?? 0));
    live('captioner_workers', 'Live model replicas', (set) => set(this.gauges?.workers() ?? 0));
  }

  /** Connects the live gauges (queues, replicas) once they exist. */
  attach(gauges: ServiceGauges): void {
    this.gauges = gauges;
  }

  setBackend(info: { backend: string; tfBackend: string; gpu: boolean; native?: NativeInfo }): void {
    this.backendName = info.backend;
    // Short enough for a dashboard tile; /metrics carries the full settings as labels.
    this.backendDetail = info.native ? `TF ${info.native.tensorflow}, ${info.native.intraOpThreads} threads` : undefined;
    this.backendGauge.reset();
    this.backendGauge.set({ backend: info.backend, tf_backend: info.tfBackend, gpu: String(info.gpu) }, 1);
    this.tensorflowGauge.reset();
    if (info.native) {
      const n = info.native;
      this.tensorflowGauge.set({ version: n.tensorflow, intra_op_threads: String(n.intraOpThreads), inter_op_threads: String(n.interOpThreads), onednn: String(n.oneDnn) }, 1);
    }
  }

  jobIn(): void {
    this.imagesIn.inc();
    this.counts.in++;
  }

  batch(size: number): void {
    this.batchSize.observe(size);
    push(this.batches, size, 50);
  }

  outcome(o: CaptionOutcome): void {
    if (o.ok) {
      this.imagesOut.inc();
      this.counts.out++;
      for (const stage of STAGES) {
        const ms = o.record.timings[stage];
        if (ms !== undefined) this.stageLatency.observe({ stage }, ms / 1000);
      }
      push(this.totals, o.record.timings.total ?? 0, WINDOW);
      push(this.outTimes, Date.now(), WINDOW);
    } else {
      this.imagesFailed.inc({ reason: o.reason });
      this.counts.failed[o.reason] = (this.counts.failed[o.reason] ?? 0) + 1;
    }
  }

  feedClientCount(n: number): void {
    this.feedClients.set(n);
  }

  feedDrop(kind: 'stats-dropped' | 'attention-stripped' | 'client-terminated' | 'train-step-dropped'): void {
    this.feedDropped.inc({ kind });
  }

  /** Prometheus text exposition of everything above. */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  /** The body of a feed `stats` message: counts, throughput over the last 10 s, latency percentiles. */
  stats(): Omit<StatsMessage, 'v' | 'type' | 'ts'> {
    const now = Date.now();
    const recent = this.outTimes.filter((t) => now - t <= 10_000).length;
    const sorted = [...this.totals].sort((a, b) => a - b);
    const depths = this.gauges?.queueDepths() ?? {};
    return {
      backend: this.backendName,
      ...(this.backendDetail ? { backendDetail: this.backendDetail } : {}),
      imagesIn: this.counts.in,
      imagesOut: this.counts.out,
      imagesFailed: { ...this.counts.failed },
      throughput: recent / 10,
      queueDepth: Object.values(depths).reduce((s, n) => s + n, 0),
      inFlight: this.gauges?.inFlight() ?? 0,
      batchSizes: [...this.batches],
      latencyMs: { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), p99: quantile(sorted, 0.99) },
      workers: this.gauges?.workers() ?? 0,
      tensors: this.gauges?.tensors().numTensors ?? 0,
    };
  }
}

function push(xs: number[], x: number, cap: number): void {
  xs.push(x);
  if (xs.length > cap) xs.splice(0, xs.length - cap);
}

/** Nearest-rank quantile of sorted values (0 when empty). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}
