/**
 * Trains a model's learned re-ranker (src/model/reranker.ts) and stores it beside the model as
 * reranker.json. The candidate pools of training images (the beam's finished captions and the greedy
 * completions of the commonest openings of the training references) are built once; a one-hidden-layer
 * network then learns, listwise (a softmax over each image's candidates, the target spread over those
 * with the best BLEU-4 against the references), which candidate to choose. Each epoch is validated on
 * the val split's pools: corpus BLEU-4 of the chosen captions, for each weight of the model's own score;
 * the best epoch and weight are kept, and the file is written only if they beat the model's own choice.
 */
import { Observable } from 'rxjs';
import { currentBackend } from '../src/backend/index.js';
import type { CaptionedImage } from '../src/data/types.js';
import { bigramCounts, bigramIndex, commonBigrams, commonOpenings, featureCount, loadCheckpoint, modelIdOf, writeReranker } from '../src/model/index.js';
import { ensembleOf, validateNet } from './fit-reranker.js';
import { fitNetworks } from './fit-threads.js';
import { PoolThreads } from './reranker-pool-workers.js';

export interface RerankerTrainingOptions {
  /** The model to train a re-ranker for; reranker.json is written into it. */
  modelDir: string;
  dataset: { name: string; images: CaptionedImage[] };
  /** Training images (the first of the train split; default all). */
  trainImages?: number;
  /** Validation images (the first of the val split; default 500). */
  valImages?: number;
  /** Openings completed for every image (default 6). */
  openings?: number;
  /** Openings completed besides the commonest (word lists), e.g. ["there", "are", "three"]: a count the beam never opens with. */
  extraOpenings?: readonly (readonly string[])[];
  beamSize?: number;
  hidden?: number;
  /** Networks fitted from seeds seed, seed + 1, ...; their mean score ranks (default 1). */
  ensemble?: number;
  epochs?: number;
  learningRate?: number;
  /** Images per optimizer step. */
  batchSize?: number;
  /** Bigrams seen at least this often among the training candidates become features (default 20; 0: none). */
  bigramMinCount?: number;
  /** Weights of the model's own score tried at validation. */
  logProbWeights?: readonly number[];
  seed?: number;
  /** Threads that build the candidate pools (each with its own copy of the model) and fit the ensemble's networks (default 1). */
  threads?: number;
  /** Write the best epoch even when it does not beat the model's own choice (default false). */
  writeEvenIfWorse?: boolean;
  signal?: AbortSignal;
}

export type RerankerEvent =
  | { kind: 'pools'; split: 'train' | 'val'; done: number; images: number }
  | { kind: 'epoch'; member: number; members: number; epoch: number; loss: number; valBleu4: number; logProbWeight: number; averaged: boolean; best: boolean }
  | { kind: 'done'; written: string | undefined; baselineBleu4: number; bestBleu4: number; members: MemberRecord[]; logProbWeight: number; candidatesPerImage: number; minutes: number };

/** One network of the re-ranker: its seed and the epoch kept (the live or the averaged weights), validated alone. */
export interface MemberRecord {
  seed: number;
  bestEpoch: number;
  averaged: boolean;
  valBleu4: number;
}

const DEFAULTS = { valImages: 500, openings: 6, beamSize: 4, hidden: 128, ensemble: 1, epochs: 20, learningRate: 1e-3, batchSize: 64, bigramMinCount: 20, logProbWeights: [0, 0.1, 0.3], seed: 1, threads: 1 };
/** Longest caption searched, as in evaluation. */
const MAX_STEPS = 50;

/** Trains and writes the re-ranker; events report the pools' progress, every epoch and the result. */
export function trainReranker(options: RerankerTrainingOptions): Observable<RerankerEvent> {
  return new Observable<RerankerEvent>((subscriber) => {
    const abort = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
    run({ ...options, signal }, (e) => subscriber.next(e)).then(
      () => subscriber.complete(),
      (err: unknown) => subscriber.error(err),
    );
    return () => abort.abort();
  });
}

async function run(options: RerankerTrainingOptions, emit: (e: RerankerEvent) => void): Promise<void> {
  const o = { ...DEFAULTS, ...options };
  const t0 = performance.now();
  const { model, vocab, preprocess } = await loadCheckpoint(o.modelDir);
  try {
    if (!model.config.wordDetector) throw new RangeError(`${o.modelDir}: a learned re-ranker needs a model trained with a word detector (config.wordDetector)`);
    model.reranker = undefined;
    const split = (name: string, limit?: number) => o.dataset.images.filter((im) => im.split === name && im.captions.length > 0).slice(0, limit);
    const train = split('train', o.trainImages);
    const val = split('val', o.valImages);
    if (train.length === 0 || val.length === 0) throw new RangeError(`${o.dataset.name}: needs train and val images with captions (has ${train.length} and ${val.length})`);
    const unknown = o.extraOpenings?.find((w) => w.length === 0 || !w.every((x) => vocab.words.includes(x)));
    if (unknown) throw new RangeError(`extra opening "${unknown.join(' ')}" is empty or has a word outside the model's vocabulary`);
    const common = commonOpenings(train.flatMap((im) => im.captions), o.openings).filter((w) => w.every((x) => vocab.words.includes(x)));
    const openings = [...common, ...(o.extraOpenings ?? []).map((w) => [...w]).filter((w) => !common.some((c) => c.join(' ') === w.join(' ')))];
    const threads = await PoolThreads.start({ threads: o.threads, model, vocab, preprocess, modelDir: o.modelDir, backend: currentBackend()?.name ?? 'auto', beamSize: o.beamSize, maxSteps: MAX_STEPS, openings });
    const pools = (images: CaptionedImage[], name: 'train' | 'val') => threads.build(images, (done) => emit({ kind: 'pools', split: name, done, images: images.length }), o.signal);
    // The worker threads hold a model copy each: they go as soon as the pools are built.
    const [trainPools, valPools] = await (async () => {
      try {
        return [await pools(train, 'train'), await pools(val, 'val')] as const;
      } finally {
        await threads.dispose();
      }
    })();
    const bigrams = o.bigramMinCount > 0 ? commonBigrams(trainPools.flatMap((p) => p.words), o.bigramMinCount) : [];
    const index = bigramIndex(bigrams);
    for (const pool of [...trainPools, ...valPools]) pool.features = pool.features.map((x, c) => concat(x, bigramCounts(pool.words[c]!, index)));
    const inputs = featureCount(vocab.size, model.config.phrases?.length ?? 0, bigrams.length);
    const seeds = Array.from({ length: o.ensemble }, (_, k) => o.seed + k);
    const fitOptions = { hidden: o.hidden, epochs: o.epochs, learningRate: o.learningRate, batchSize: o.batchSize, logProbWeights: o.logProbWeights, writeEvenIfWorse: true, signal: o.signal };
    const fits = await fitNetworks(trainPools, valPools, inputs, fitOptions, seeds, o.threads, (k, e) => emit({ kind: 'epoch', member: k + 1, members: o.ensemble, ...e }));
    const { mean, std, baselineBleu4 } = fits[0]!;
    const members: MemberRecord[] = fits.map((f, k) => ({ seed: seeds[k]!, bestEpoch: f.best.epoch, averaged: f.best.averaged, valBleu4: f.best.bleu4 }));
    const hidden = o.hidden * o.ensemble;
    const weights = ensembleOf(fits.map((f) => f.best.weights!), inputs, o.hidden);
    const { w: logProbWeight, bleu4 } = validateNet(valPools, { inputs, hidden, mean, std, ...weights }, o.logProbWeights);
    const written =
      bleu4 > baselineBleu4 || o.writeEvenIfWorse
        ? await writeReranker(o.modelDir, {
            modelId: modelIdOf(model),
            inputs,
            hidden,
            mean,
            std,
            ...weights,
            logProbWeight,
            openings,
            bigrams,
            trained: {
              dataset: o.dataset.name,
              trainImages: trainPools.length,
              valImages: valPools.length,
              beamSize: o.beamSize,
              epochs: o.epochs,
              hiddenPerNetwork: o.hidden,
              members,
              valBleu4: bleu4,
              modelValBleu4: baselineBleu4,
              savedAt: new Date().toISOString(),
            },
          })
        : undefined;
    const candidates = trainPools.reduce((n, p) => n + p.rewards.length, 0) / trainPools.length;
    emit({ kind: 'done', written, baselineBleu4, bestBleu4: bleu4, members, logProbWeight, candidatesPerImage: candidates, minutes: (performance.now() - t0) / 60_000 });
  } finally {
    model.dispose();
  }
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const x = new Float32Array(a.length + b.length);
  x.set(a);
  x.set(b, a.length);
  return x;
}
