import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { Observable, type Subscription } from 'rxjs';
import type { CaptionedImage, PreprocessConfig, TrainBatch } from '../src/data/types.js';
import { IMAGENET_PREPROCESS } from '../src/data/types.js';
import { Vocabulary } from '../src/data/vocabulary.js';
import { corpusBleu, stripSpecialTokens } from '../src/metrics/index.js';
import {
  ShowAttendTell,
  Trainer,
  defaultModelConfig,
  loadCheckpoint,
  saveCheckpoint,
  selectPhrases,
  type ModelConfig,
  type StepStats,
  type TrainerOptions,
} from '../src/model/index.js';
import type { StepDone } from '../operators/train-steps.js';
import { currentBackend } from '../src/backend/index.js';
import { GradientWorkers } from '../src/runtime/gradient-workers.js';
import { describeImages } from './describe-images.js';
import { modelCaptioner } from './model-captioner.js';
import { trainEpoch } from './train-epoch.js';
import { type CaptionSampling, decodedBytes, epochExamples, imageLoader } from './train-data.js';
import type { TrainEndEvent, TrainEvent, TrainProbe, TrainStepEvent, ValidationGrounding } from './train-events.js';
import { groundedCaption, sceneGrounding, type GroundedCaption } from './scene-grounding.js';
import { REFERENCE_SCHEDULE, annealFactor, initialSchedule, nextSchedule, validateSchedule, type ScheduleState } from './train-schedule.js';

/** Options of {@link trainPipeline}; every field but dataset and outDir has the default shown. */
/** The learning-rate groups an anneal can lower. */
export const ANNEAL_GROUPS = ['both', 'encoder', 'decoder'] as const;
export type AnnealGroups = (typeof ANNEAL_GROUPS)[number];

export interface TrainOptions {
  /** Images of the train and val splits (a loaded Karpathy or synthetic data set). */
  dataset: { name: string; images: CaptionedImage[] };
  /** Receives best/ (best validation BLEU-4) and last/ (resume point) checkpoints. */
  outDir: string;
  /** Continue the run saved in outDir/last. Without it an existing outDir/last is refused. */
  resume?: boolean;
  /** Epochs in total, counting those before a resume (120, the reference's cap). */
  epochs?: number;
  batchSize?: number; // 32
  /** Beam size of validation decoding (3). */
  beamSize?: number;
  patience?: number; // 20
  decayEvery?: number; // 8
  decayFactor?: number; // 0.8
  /** Wall-clock limit of this invocation; the epoch in progress is cut short and validated (Infinity). */
  maxMinutes?: number;
  /**
   * Limit on optimizer steps in total, counting those before a resume (Infinity): the epoch in
   * progress is cut short at it, validated and saved. Unlike maxMinutes it stops at the same step on
   * a fast machine and a slow one.
   */
  maxSteps?: number;
  /** Cap on optimizer steps per epoch, for quick runs (no cap). */
  stepsPerEpoch?: number;
  /** Training images decoded or queued ahead of the optimizer (2 x batchSize; at least batchSize). */
  prefetch?: number;
  loadConcurrency?: number; // 4
  /** Keep decoded images in memory: 'auto' when all of them fit in 512 MiB. */
  cacheImages?: boolean | 'auto';
  seed?: number; // 1
  /** Input side for a new model (64, the compact CNN's size); a resumed run keeps its own. */
  imageSize?: number;
  /** Overrides of defaultModelConfig for a new model (vocabSize is set from the vocabulary). */
  model?: Partial<ModelConfig>;
  trainer?: Partial<TrainerOptions>;
  /**
   * Give a new model a phrase detector over this many two-word phrases of the training captions
   * (selectPhrases; config.phrases); 0 (default): none. Train it with trainer.phraseDetection.
   */
  phrases?: number;
  /** Vocabulary threshold: words seen more than this often are kept (5, the reference). */
  minWordFreq?: number;
  /** Longest caption trained on, in words (50). */
  maxLen?: number;
  captionSampling?: CaptionSampling; // 'one-random'
  /** Validate on at most this many val images (all). */
  valLimit?: number;
  valBatchSize?: number; // 32
  /** Val images shown with their captions and attention in every validation event (4). */
  probeCount?: number;
  /** Beam search step cap (maxLen + 2). */
  maxDecodeSteps?: number;
  /**
   * Also save last/ every this many steps inside an epoch, so a killed run loses at most that many
   * (default: only at epoch ends). Resuming mid-epoch skips the examples of the epoch already used.
   */
  checkpointEverySteps?: number;
  /**
   * Cosine-anneal the learning rates over this many minutes of training (counted across resumes),
   * down to `annealFloor` x their value (default: no anneal). Multiplies any plateau decay.
   */
  annealMinutes?: number;
  /** The same anneal over this many optimizer steps (counted across resumes) instead of minutes. */
  annealSteps?: number;
  annealFloor?: number; // 0.05
  /**
   * Which learning rates the anneal lowers ('both'). 'encoder' settles the features that attention
   * looks at while the decoder keeps learning the language at its full rate.
   */
  annealGroups?: AnnealGroups;
  /**
   * Threads that compute each step (1): above 1, worker threads with model replicas each take a
   * shard of every batch (data parallelism; one wasm/cpu backend uses one core). Same batch, same
   * update rule; the dropout draws differ from a one-thread run, and shard losses are averaged by
   * image count, so with unequal caption lengths the token-mean cross-entropy is weighted slightly
   * differently.
   */
  workers?: number;
  /** Emitting anything stops gracefully: the step in flight finishes, the epoch is validated and saved. */
  stop$?: Observable<unknown>;
}

/** What outDir/last stores besides weights and optimizer state. */
interface TrainingState {
  formatVersion: 1;
  nextEpoch: number;
  /**
   * Mid-epoch checkpoints: examples of nextEpoch's shuffled list already trained or skipped, and
   * steps taken in it. Decoding completes out of order within the prefetch window, so on resume up to
   * `prefetch` examples around that point may be trained once more or not at all in this epoch.
   */
  epochOffset?: number;
  epochSteps?: number;
  step: number;
  seed: number;
  schedule: ScheduleState;
  initialLr: { decoder: number; encoder: number };
  batchSize: number;
  captionSampling: CaptionSampling;
  /** Minutes trained by earlier invocations of this run (the anneal clock). */
  minutes?: number;
}

const CACHE_LIMIT_BYTES = 512 * 2 ** 20;

/**
 * The training graph. Per epoch: examples shuffled with the epoch's seed -> pullOnDemand (credit
 * paid back as steps finish, so at most `prefetch` images are decoded or queued ahead of the
 * optimizer) -> loadImages -> batchExamples -> trainSteps; then free-running validation with beam
 * search gives BLEU-1..4, which drives the schedule (early stopping, LR decay) and the best/
 * checkpoint; last/ is saved after every epoch for --resume.
 *
 * The returned Observable is cold: subscribing starts a run, each subscription its own. Emits
 * {@link TrainEvent}s and completes after 'train.end'; errors (after a 'failed' end event) on bad
 * input or a failing step. Unsubscribing is a hard stop: nothing more is saved, and the model is
 * disposed once the step in flight settles. Use `stop$` for a graceful stop.
 */
export function trainPipeline(opts: TrainOptions): Observable<TrainEvent> {
  const o = {
    resume: false, epochs: 120, batchSize: 32, beamSize: 3, ...REFERENCE_SCHEDULE, maxMinutes: Infinity, maxSteps: Infinity,
    stepsPerEpoch: Infinity, loadConcurrency: 4, cacheImages: 'auto' as boolean | 'auto', seed: 1, imageSize: 64,
    phrases: 0, minWordFreq: 5, maxLen: 50, captionSampling: 'one-random' as CaptionSampling, valLimit: Infinity,
    valBatchSize: 32, probeCount: 4, workers: 1, annealMinutes: Infinity, annealSteps: Infinity, annealFloor: 0.05, annealGroups: 'both' as AnnealGroups, ...opts,
  };
  const prefetch = opts.prefetch ?? 2 * o.batchSize;
  return new Observable<TrainEvent>((subscriber) => {
    const started = performance.now();
    const bestDir = join(o.outDir, 'best');
    const lastDir = join(o.outDir, 'last');
    let aborted = false;
    let stopRequested = false;
    let inner: Subscription | undefined;
    let abortEpoch: (() => void) | undefined;
    let busy: Promise<unknown> = Promise.resolve();
    let model: ShowAttendTell | undefined;
    let trainer: Trainer | undefined;
    let helpers: GradientWorkers | undefined;
    const emit = (e: TrainEvent) => {
      if (!aborted) subscriber.next(e);
    };
    const stopSub = o.stop$?.subscribe(() => (stopRequested = true));
    const elapsedMin = () => (performance.now() - started) / 60_000;
    /** Minutes of this run including earlier invocations (resumes). */
    let minutesBefore = 0;
    const runMinutes = () => minutesBefore + elapsedMin();

    const run = async (): Promise<void> => {
      validateOptions(o, prefetch);
      const train = o.dataset.images.filter((im) => im.split === 'train');
      const val = o.dataset.images.filter((im) => im.split === 'val').slice(0, o.valLimit);
      if (train.length === 0) throw new RangeError(`data set ${o.dataset.name} has no train images`);
      if (val.length === 0) throw new RangeError(`data set ${o.dataset.name} has no val images: validation drives early stopping`);

      let vocab: Vocabulary;
      let preprocess: PreprocessConfig;
      let state: TrainingState;
      const lastExists = await exists(join(lastDir));
      if (o.resume) {
        if (!lastExists) throw new RangeError(`--resume: ${lastDir} holds no checkpoint to resume; run without --resume to start`);
        const ck = await loadCheckpoint(lastDir);
        model = ck.model;
        vocab = ck.vocab;
        preprocess = ck.preprocess;
        state = checkTrainingState(ck.training, lastDir);
        minutesBefore = state.minutes ?? 0;
        const trainerOpts = trainerOptions(o, state.initialLr);
        helpers = await startHelpers(o.workers, model.config, trainerOpts);
        trainer = ck.trainerState ? await Trainer.restore(model, trainerOpts, ck.trainerState, helpers) : new Trainer(model, trainerOpts, helpers);
      } else {
        if (lastExists) throw new RangeError(`${o.outDir} already holds a training run (last/); pass --resume to continue it or choose another --out`);
        vocab = Vocabulary.build(o.dataset.images.flatMap((im) => im.captions), o.minWordFreq);
        preprocess = { ...IMAGENET_PREPROCESS, imageSize: o.imageSize };
        const phrases = o.phrases > 0 ? { phrases: selectPhrases(train.flatMap((im) => im.captions), vocab, o.phrases) } : {};
        model = await ShowAttendTell.load(defaultModelConfig({ ...o.model, ...phrases, vocabSize: vocab.size }), { seed: o.seed });
        const trainerOpts = trainerOptions(o);
        helpers = await startHelpers(o.workers, model.config, trainerOpts);
        trainer = new Trainer(model, trainerOpts, helpers);
        state = {
          formatVersion: 1, nextEpoch: 0, step: 0, seed: o.seed, schedule: initialSchedule(),
          initialLr: { decoder: trainerOpts.decoderLr, encoder: trainerOpts.encoderLr },
          batchSize: o.batchSize, captionSampling: o.captionSampling,
        };
      }
      const m = model;
      const t = trainer;
      const annealing = o.annealMinutes !== Infinity || o.annealSteps !== Infinity;
      /** Initial rates x plateau decays so far x the anneal at this moment or step (1 without one). */
      const setLearningRates = (step = state.step): void => {
        const anneal = o.annealSteps !== Infinity
          ? annealFactor(step, o.annealSteps, o.annealFloor)
          : o.annealMinutes === Infinity ? 1 : annealFactor(runMinutes(), o.annealMinutes, o.annealFloor);
        const f = (group: 'encoder' | 'decoder') => state.schedule.lrScale * (o.annealGroups === 'both' || o.annealGroups === group ? anneal : 1);
        t.setLearningRates({ decoder: state.initialLr.decoder * f('decoder'), encoder: state.initialLr.encoder * f('encoder') });
      };
      const cache = o.cacheImages === 'auto' ? decodedBytes(train.length + val.length, preprocess.imageSize) <= CACHE_LIMIT_BYTES : o.cacheImages;
      const load = imageLoader(preprocess, cache);
      const examplesPerEpoch = epochExamples(train, state.seed, 0, state.captionSampling).length;
      const stepsPerEpoch = Math.min(o.stepsPerEpoch, Math.ceil(examplesPerEpoch / o.batchSize));
      const probeIds = new Set(val.slice(0, o.probeCount).map((im) => im.id));
      emit({
        type: 'train.start', epoch: state.nextEpoch, step: state.step, resumed: o.resume, epochs: o.epochs,
        trainImages: train.length, valImages: val.length, stepsPerEpoch, batchSize: o.batchSize, vocabSize: vocab.size,
        parameters: m.namedWeights().reduce((n, w) => n + w.variable.size, 0), cacheImages: cache, workers: 1 + (helpers?.size ?? 0),
      });

      let endReason: TrainEndEvent['reason'] = 'completed';
      let limit: TrainEndEvent['limit'] = 'epochs';
      let epoch = state.nextEpoch;
      for (; epoch < o.epochs; epoch++) {
        // --- one epoch of steps, pulled on demand ---
        const epochStart = performance.now();
        // A mid-epoch resume continues this epoch's list where the saved run had got to.
        const offset = epoch === state.nextEpoch ? (state.epochOffset ?? 0) : 0;
        const stepsBefore = epoch === state.nextEpoch ? (state.epochSteps ?? 0) : 0;
        const epochFirstStep = state.step;
        let examples = 0;
        let lossSum = 0;
        let stepsDone = stepsBefore;
        let skippedInEpoch = 0;
        let trained = 0;
        let taken = 0;
        const stepAndMaybeSave = async (b: TrainBatch): Promise<StepStats> => {
          if (annealing) setLearningRates(epochFirstStep + taken);
          const stats = await track(t.step(b));
          taken++;
          trained += b.batchSize;
          // Saved inside the step, so no other step changes the weights while they are read.
          if (!aborted && o.checkpointEverySteps && taken % o.checkpointEverySteps === 0 && stepsBefore + taken < stepsPerEpoch) {
            const mid: TrainingState = { ...state, minutes: runMinutes(), step: epochFirstStep + taken, nextEpoch: epoch, epochOffset: offset + trained + skippedInEpoch, epochSteps: stepsBefore + taken };
            await track(saveCheckpoint(lastDir, { model: m, vocab, preprocess, trainer: t, training: mid, meta: { epoch, step: mid.step, dataset: o.dataset.name, savedAt: new Date().toISOString() } }));
            emit({ type: 'train.checkpoint', epoch, kind: 'last', dir: lastDir });
          }
          return stats;
        };
        const steps$ = trainEpoch({
          examples: epochExamples(train, state.seed, epoch, state.captionSampling).slice(offset), load, trainer: { step: stepAndMaybeSave },
          vocab, batchSize: o.batchSize, maxLen: o.maxLen, prefetch, loadConcurrency: o.loadConcurrency, firstStep: state.step,
          maxSteps: stepsPerEpoch - stepsBefore, cut: () => stopRequested || elapsedMin() >= o.maxMinutes || epochFirstStep + taken >= o.maxSteps,
          onSkipped: (x, error) => {
            skippedInEpoch++;
            emit({ type: 'train.skipped', epoch, id: x.id, file: error.file, reason: error.reason, message: error.message });
          },
        });
        await new Promise<void>((resolve, reject) => {
          abortEpoch = resolve;
          inner = steps$.subscribe({
            next: (d: StepDone) => {
              stepsDone++;
              examples += d.batchSize;
              lossSum += d.stats.loss;
              emit(stepEvent(d, epoch, stepsDone, stepsDone - stepsBefore, stepsPerEpoch, t.learningRates().decoder, epochStart, examples, o, elapsedMin()));
            },
            error: reject,
            complete: resolve,
          });
        });
        if (aborted) return;
        state = { ...state, step: state.step + taken, epochOffset: 0, epochSteps: 0 };
        const epochMs = performance.now() - epochStart;
        emit({ type: 'train.epoch', epoch, steps: stepsDone, examples, meanLoss: taken ? lossSum / taken : NaN, examplesPerSec: examples / (epochMs / 1000), durationMs: epochMs });

        // --- free-running validation ---
        const valStart = performance.now();
        const hyps: string[][] = [];
        const refs: string[][][] = [];
        const probes: TrainProbe[] = [];
        const grounded: GroundedCaption[] = [];
        let skipped = 0;
        let unfinished = 0;
        // With weight averaging, validation scores the averaged weights: the ones checkpoints hold.
        await t.withAveragedWeights(() => new Promise<void>((resolve, reject) => {
          abortEpoch = resolve;
          inner = describeImages(val, {
            captioner: { caption: (ims, beam) => track(modelCaptioner(m, vocab).caption(ims, beam)) },
            load, beam: { beamSize: o.beamSize, maxSteps: o.maxDecodeSteps ?? o.maxLen + 2 }, batchSize: o.valBatchSize, concurrency: o.loadConcurrency,
          }).subscribe({
            next: (e) => {
              if (e.kind === 'skipped') return void skipped++;
              const best = e.result.best;
              hyps.push(stripSpecialTokens(best.words));
              refs.push(e.item.captions.map((c) => stripSpecialTokens(c)));
              if (!best.finished) unfinished++;
              const scene = groundedCaption(e);
              if (scene) grounded.push(scene);
              if (probeIds.has(e.item.id)) {
                probes.push({
                  id: e.item.id, path: e.item.path, caption: e.result.caption, words: best.words,
                  references: e.item.captions.map((c) => c.join(' ')), gridSize: e.result.gridSize,
                  attention: best.attention.map((a) => Array.from(a)),
                });
              }
            },
            error: reject,
            complete: resolve,
          });
        }));
        if (aborted) return;
        const bleu = corpusBleu(hyps, refs).bleu;
        const decision = nextSchedule(state.schedule, epoch, bleu[3], o);
        state = { ...state, schedule: decision.state, nextEpoch: epoch + 1, minutes: runMinutes() };
        if (decision.decayed) setLearningRates();
        probes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        emit({
          type: 'train.validation', epoch, bleu, bestBleu4: decision.state.bestBleu4, bestEpoch: decision.state.bestEpoch,
          epochsSinceImprovement: decision.state.epochsSinceImprovement, learningRate: t.learningRates().decoder,
          improved: decision.improved, lrDecayed: decision.decayed, images: hyps.length, skipped,
          unfinishedFraction: hyps.length ? unfinished / hyps.length : 0, probes, durationMs: performance.now() - valStart,
          ...(grounded.length > 0 ? { grounding: validationGrounding(grounded) } : {}),
        });

        // --- checkpoints: best on improvement, last always ---
        const meta = { epoch, step: state.step, bleu, dataset: o.dataset.name, savedAt: new Date().toISOString() };
        if (decision.improved) {
          await track(t.withAveragedWeights(() => saveCheckpoint(bestDir, { model: m, vocab, preprocess, meta })));
          emit({ type: 'train.checkpoint', epoch, kind: 'best', dir: bestDir });
        }
        await track(saveCheckpoint(lastDir, { model: m, vocab, preprocess, trainer: t, training: state, meta }));
        emit({ type: 'train.checkpoint', epoch, kind: 'last', dir: lastDir });
        if (aborted) return;

        if (decision.stop) {
          endReason = 'early-stopped';
          limit = undefined;
          break;
        }
        if (stopRequested) {
          endReason = 'stopped';
          limit = undefined;
          break;
        }
        if (elapsedMin() >= o.maxMinutes) {
          limit = 'max-minutes';
          break;
        }
        if (state.step >= o.maxSteps) {
          limit = 'max-steps';
          break;
        }
      }
      emit({
        type: 'train.end', reason: endReason, ...(limit ? { limit } : {}), bestBleu4: state.schedule.bestBleu4,
        bestEpoch: state.schedule.bestEpoch, epochs: state.nextEpoch, steps: state.step,
        durationMs: performance.now() - started, bestDir, lastDir,
      });
      subscriber.complete();
    };

    // Everything that touches the model is tracked, so teardown can wait for it before disposing.
    function track<T>(p: Promise<T>): Promise<T> {
      busy = Promise.allSettled([busy, p]);
      return p;
    }

    const done = run().catch((err: unknown) => {
      if (aborted) return;
      emit({
        type: 'train.end', reason: 'failed', bestBleu4: -1, bestEpoch: -1, epochs: 0, steps: 0,
        durationMs: performance.now() - started, bestDir, lastDir,
      });
      subscriber.error(err);
    });

    return () => {
      aborted = true;
      stopSub?.unsubscribe();
      inner?.unsubscribe();
      abortEpoch?.();
      void done.then(() => busy).finally(() => {
        trainer?.dispose();
        model?.dispose();
        return helpers?.dispose();
      });
    };
  });
}

function stepEvent(
  d: StepDone, epoch: number, stepInEpoch: number, stepsThisRun: number, stepsPerEpoch: number, learningRate: number, epochStart: number,
  examples: number, o: { epochs: number; maxMinutes: number; maxSteps: number }, elapsedMin: number,
): TrainStepEvent {
  const sec = (performance.now() - epochStart) / 1000;
  const secPerStep = sec / Math.max(1, stepsThisRun);
  const stepsLeft = Math.min(stepsPerEpoch - stepInEpoch + (o.epochs - epoch - 1) * stepsPerEpoch, o.maxSteps - d.step);
  const etaSec = Math.min(stepsLeft * secPerStep, Math.max(0, (o.maxMinutes - elapsedMin) * 60));
  return {
    type: 'train.step', epoch, step: d.step, stepInEpoch, stepsPerEpoch, loss: d.stats.loss, crossEntropy: d.stats.crossEntropy,
    attentionPenalty: d.stats.attentionPenalty, learningRate, batchSize: d.batchSize, examplesPerSec: examples / sec, etaSec,
    durationMs: d.durationMs,
  };
}

/** Worker threads for the shards beyond the training thread's own (none for one thread). */
async function startHelpers(workers: number, config: ModelConfig, trainer: TrainerOptions): Promise<GradientWorkers | undefined> {
  if (workers === 1) return undefined;
  return GradientWorkers.start({ workers: workers - 1, config, trainer, backend: currentBackend()?.name ?? 'auto' });
}

function trainerOptions(o: { trainer?: Partial<TrainerOptions>; seed: number }, lr?: { decoder: number; encoder: number }): TrainerOptions {
  return {
    decoderLr: 4e-4, encoderLr: 1e-4, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: o.seed,
    ...o.trainer,
    ...(lr ? { decoderLr: lr.decoder, encoderLr: lr.encoder } : {}),
  };
}

function validateOptions(o: Required<Pick<TrainOptions, 'epochs' | 'batchSize' | 'beamSize' | 'patience' | 'decayEvery' | 'decayFactor' | 'maxMinutes' | 'maxSteps' | 'stepsPerEpoch' | 'loadConcurrency' | 'probeCount' | 'workers' | 'annealMinutes' | 'annealSteps' | 'annealFloor' | 'annealGroups'>>, prefetch: number): void {
  const posInt = (name: string, v: number, allowInf = false) => {
    if (!((Number.isInteger(v) && v > 0) || (allowInf && v === Infinity))) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  };
  posInt('epochs', o.epochs);
  posInt('batchSize', o.batchSize);
  posInt('beamSize', o.beamSize);
  posInt('stepsPerEpoch', o.stepsPerEpoch, true);
  posInt('loadConcurrency', o.loadConcurrency);
  posInt('workers', o.workers);
  if (!(o.annealMinutes > 0)) throw new RangeError(`annealMinutes must be > 0, got ${o.annealMinutes}`);
  posInt('maxSteps', o.maxSteps, true);
  posInt('annealSteps', o.annealSteps, true);
  if (o.annealMinutes !== Infinity && o.annealSteps !== Infinity) throw new RangeError('annealMinutes and annealSteps are two clocks for one anneal: set one');
  if (!(o.annealFloor >= 0 && o.annealFloor <= 1)) throw new RangeError(`annealFloor must be in [0, 1], got ${o.annealFloor}`);
  if (!ANNEAL_GROUPS.includes(o.annealGroups)) throw new RangeError(`annealGroups must be 'both', 'encoder' or 'decoder', got ${String(o.annealGroups)}`);
  if (o.workers > o.batchSize) throw new RangeError(`workers (${o.workers}) must be <= batchSize (${o.batchSize}): each takes a shard of every batch`);
  if (!(o.maxMinutes > 0)) throw new RangeError(`maxMinutes must be > 0, got ${o.maxMinutes}`);
  if (!Number.isInteger(prefetch) || prefetch < o.batchSize) {
    throw new RangeError(`prefetch (${prefetch}) must be an integer >= batchSize (${o.batchSize}), or no batch could ever fill`);
  }
  validateSchedule(o);
}

function checkTrainingState(x: unknown, dir: string): TrainingState {
  const s = x as Partial<TrainingState> | undefined;
  if (!s || s.formatVersion !== 1 || typeof s.nextEpoch !== 'number' || typeof s.step !== 'number' || !s.schedule || !s.initialLr) {
    throw new RangeError(`${dir}: the checkpoint holds no training state of format 1; it was not written by this version's train command`);
  }
  return s as TrainingState;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The few grounding figures a validation event carries (the full report is `captioner eval`'s). */
function validationGrounding(samples: GroundedCaption[]): ValidationGrounding {
  const { content, attention } = sceneGrounding(samples);
  return { hitRate: attention.rate, contentAccuracy: content.accuracy, completeAccuracy: content.completeAccuracy, objectCoverage: content.objectCoverage, images: samples.length };
}
