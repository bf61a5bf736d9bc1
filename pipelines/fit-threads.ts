/**
 * Fits the networks of a re-ranker ensemble on several threads (ShardWorkers): each network is one
 * job, taken by whichever thread is free, this one included. The pools' feature vectors are packed
 * once into shared memory that every worker reads in place, so a worker costs no copy of them.
 * Every network is fitted from its own seed with the same kernels, so where it ran changes nothing.
 */
import { currentBackend } from '../src/backend/index.js';
import { ShardWorkers } from '../src/runtime/shard-workers.js';
import { fitReranker, type FitOptions, type FitResult } from './fit-reranker.js';
import type { ImagePool } from './reranker-pools.js';

/** Pools as plain data: all feature vectors in one shared buffer, the rest per pool. */
export interface PackedPools {
  features: Float32Array;
  inputs: number;
  /** Candidates per pool. */
  counts: number[];
  rewards: number[][];
  /** The model's scores, words and references: validation needs them, fitting does not. */
  scores?: number[][];
  words?: string[][][];
  references?: string[][][];
}

export type FitEpoch = Parameters<NonNullable<FitOptions['onEpoch']>>[0];

export interface FitWorkerInit {
  backend: string;
  train: PackedPools;
  val: PackedPools;
  inputs: number;
  options: Omit<FitOptions, 'seed' | 'signal' | 'onEpoch'>;
}

/** One job: the network of this seed. */
export type FitJob = { seed: number };

export function packPools(pools: readonly ImagePool[], inputs: number, full: boolean): PackedPools {
  const counts = pools.map((p) => p.features.length);
  const features = new Float32Array(new SharedArrayBuffer(counts.reduce((a, b) => a + b, 0) * inputs * 4));
  let at = 0;
  for (const p of pools) {
    for (const x of p.features) {
      if (x.length !== inputs) throw new RangeError(`a candidate has ${x.length} features, expected ${inputs}`);
      features.set(x, at);
      at += inputs;
    }
  }
  const rewards = pools.map((p) => p.rewards);
  return full ? { features, inputs, counts, rewards, scores: pools.map((p) => p.scores), words: pools.map((p) => p.words), references: pools.map((p) => p.references) } : { features, inputs, counts, rewards };
}

/** The pools again, their feature vectors views of the shared buffer. */
export function unpackPools(packed: PackedPools): ImagePool[] {
  let at = 0;
  return packed.counts.map((n, i) => {
    const features = Array.from({ length: n }, () => {
      const x = packed.features.subarray(at, at + packed.inputs);
      at += packed.inputs;
      return x;
    });
    return { features, rewards: packed.rewards[i]!, scores: packed.scores?.[i] ?? [], words: packed.words?.[i] ?? [], references: packed.references?.[i] ?? [] };
  });
}

/**
 * Fits one network per seed on `threads` threads and returns the fits in seed order. onEpoch hears
 * every network's epochs, tagged with the network's place among the seeds (0-based); a worker's
 * arrive as it reports them, this thread's once the network it is fitting is done.
 */
export async function fitNetworks(
  trainPools: readonly ImagePool[],
  valPools: readonly ImagePool[],
  inputs: number,
  options: Omit<FitOptions, 'seed' | 'onEpoch'>,
  seeds: readonly number[],
  threads: number,
  onEpoch?: (member: number, e: FitEpoch) => void,
): Promise<FitResult[]> {
  const { signal, ...plain } = options;
  const fitHere = (k: number): FitResult => fitReranker(trainPools, valPools, inputs, { ...options, seed: seeds[k]!, onEpoch: (e) => onEpoch?.(k, e) });
  const workerCount = Math.min(threads, seeds.length) - 1;
  if (workerCount <= 0) return seeds.map((_, k) => fitHere(k));
  const init: FitWorkerInit = { backend: currentBackend()?.name ?? 'auto', train: packPools(trainPools, inputs, false), val: packPools(valPools, inputs, true), inputs, options: plain };
  const workers = await ShardWorkers.start<FitWorkerInit, FitJob, FitResult, FitEpoch>({ workers: workerCount, here: import.meta.url, module: 'fit-worker', label: 're-ranker fit worker', init });
  const onAbort = (): void => workers.failAll('fitting the re-ranker was aborted');
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const results: FitResult[] = [];
    let next = 0;
    const take = (): number | undefined => (next < seeds.length ? next++ : undefined);
    const onWorker = async (w: number): Promise<void> => {
      for (let k = take(); k !== undefined; k = take()) results[k] = await workers.run(w, { seed: seeds[k]! }, { progress: (e) => onEpoch?.(k, e) });
    };
    const here = async (): Promise<void> => {
      await Promise.resolve(); // the workers take their first networks before this thread blocks on one
      for (let k = take(); k !== undefined; k = take()) {
        results[k] = fitHere(k);
        await new Promise((resolve) => setImmediate(resolve)); // hear finished workers before taking another
      }
    };
    const running = [here(), ...Array.from({ length: workerCount }, (_, w) => onWorker(w))];
    try {
      await Promise.all(running);
    } catch (err) {
      // No thread takes another network once one has failed; this thread's current one ends first.
      next = seeds.length;
      workers.failAll('another network of the ensemble failed');
      await Promise.allSettled(running);
      throw err;
    }
    return results;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await workers.dispose();
  }
}
