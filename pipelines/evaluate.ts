import { lastValueFrom, toArray } from 'rxjs';
import type { CaptionedImage, PreprocessConfig, Split } from '../src/data/types.js';
import { defaultDetectorRerank } from '../src/decoding/index.js';
import type { ModelConfig } from '../src/model/index.js';
import type { Vocabulary } from '../src/data/vocabulary.js';
import type { NativeInfo } from '../src/backend/index.js';
import { captionStats, ciderD, corpusBleu, stripSpecialTokens, type AttentionHitResult, type CaptionStats } from '../src/metrics/index.js';
import { writeFileAtomic } from '../src/io/write-file-atomic.js';
import { captionBaselines, type CaptionBaselines } from './caption-baselines.js';
import { describeImages } from './describe-images.js';
import type { ImageCaptioner } from './model-captioner.js';
import { groundedCaption, sceneGrounding, type ContentReport } from './scene-grounding.js';
import { imageLoader } from './train-data.js';

/** A loaded model as evaluate needs it: the decoding package's Captioner fits. */
export interface EvaluableCaptioner extends ImageCaptioner {
  readonly modelId: string;
  /** For the report: which decoding defaults applied (detector re-ranking needs a word detector). */
  readonly model: { readonly config: Pick<ModelConfig, 'wordDetector'> };
  readonly vocab: Vocabulary;
  readonly preprocess: PreprocessConfig;
}

export interface EvaluateOptions {
  captioner: EvaluableCaptioner;
  dataset: { name: string; images: CaptionedImage[] };
  split: Split;
  /** Beam size k (default 4, the descendant's). */
  beamSize?: number;
  /** Beam search step cap (default 50, the reference's). */
  maxSteps?: number;
  /** Rank finished beams by logProb / length^a (default 0: summed log-prob, the reference). */
  lengthPenalty?: number;
  /** Weight of the word detector's agreement in the final ranking (default: the model's, see CaptionOptions.detectorRerank). */
  detectorRerank?: number;
  /** Images per beam-search call (default 16). */
  batchSize?: number;
  /** Evaluate only the first n images of the split. */
  limit?: number;
  loadConcurrency?: number;
  /** Backend name for the report (e.g. currentBackend().name). */
  backend: string;
  /** A native backend's TensorFlow version and threads, reported with the backend (currentBackend().native). */
  native?: NativeInfo;
  /** Also write every prediction here as JSON (atomically); readable by `captioner score --hyps`. */
  predictionsPath?: string;
}

/** One image's prediction as the predictions file stores it. */
export interface Prediction {
  id: string;
  file: string;
  caption: string;
  score: number;
  finished: boolean;
  references: string[];
}

/** JSON-able evaluation report. */
export interface EvaluationReport {
  modelId: string;
  dataset: string;
  split: Split;
  beamSize: number;
  /** Length normalisation of beam ranking (0: none). */
  lengthPenalty: number;
  /** Weight of the word detector's agreement in the final ranking (0: none, the reference). */
  detectorRerank: number;
  backend: string;
  /** The TensorFlow library and threads under a native backend. */
  native?: NativeInfo;
  images: number;
  skipped: Array<{ id: string; file: string; reason: string }>;
  bleu: { bleu1: number; bleu2: number; bleu3: number; bleu4: number };
  ciderD: number;
  captions: CaptionStats;
  unfinishedFraction: number;
  /** Synthetic data sets only: captions whose every claim holds for the scene (checkCaption). */
  content?: ContentReport;
  /** Synthetic data sets only: does the attention peak fall on the object a shape/colour word names. */
  attention?: AttentionHitResult;
  /** The same images scored with one constant caption and with one reference against the others: template captions inflate BLEU. */
  baselines?: CaptionBaselines;
  durationMs: number;
  imagesPerSec: number;
}

/**
 * Captions one split with beam search and scores it: BLEU-1..4 (NLTK corpus BLEU), CIDEr-D, caption
 * statistics and the fraction of beams that hit the step cap; on synthetic data sets (images with
 * `objects`) also content accuracy and attention hit rate. Undecodable images are listed and left
 * out of the scores.
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvaluationReport> {
  const { captioner, dataset, split, beamSize = 4, maxSteps = 50, lengthPenalty = 0, batchSize = 16, loadConcurrency = 4 } = opts;
  const detectorRerank = opts.detectorRerank ?? defaultDetectorRerank(captioner.model.config);
  if (!Number.isInteger(beamSize) || beamSize < 1) throw new RangeError(`beam size must be a positive integer, got ${beamSize}`);
  const images = dataset.images.filter((im) => im.split === split).slice(0, opts.limit ?? Infinity);
  if (images.length === 0) throw new RangeError(`data set ${dataset.name} has no ${split} images`);
  const started = performance.now();
  const events = await lastValueFrom(
    describeImages(images, {
      captioner,
      load: imageLoader(captioner.preprocess, false),
      beam: { beamSize, maxSteps, lengthPenalty, detectorRerank },
      batchSize,
      concurrency: loadConcurrency,
    }).pipe(toArray()),
  );
  const durationMs = performance.now() - started;
  // Report in split order, whatever order decoding finished in.
  const order = new Map(images.map((im, i) => [im.id, i]));
  const done = events.flatMap((e) => (e.kind === 'captioned' ? [e] : [])).sort((a, b) => order.get(a.item.id)! - order.get(b.item.id)!);
  const skipped = events.flatMap((e) => (e.kind === 'skipped' ? [{ id: e.item.id, file: e.error.file, reason: e.error.reason }] : []));

  const hyps = done.map((e) => stripSpecialTokens(e.result.best.words));
  const refs = done.map((e) => e.item.captions.map((c) => stripSpecialTokens(c)));
  const unfinished = done.map((e) => !e.result.best.finished);
  const bleu = hyps.length ? corpusBleu(hyps, refs).bleu : [0, 0, 0, 0];
  const report: EvaluationReport = {
    modelId: captioner.modelId,
    dataset: dataset.name,
    split,
    beamSize,
    lengthPenalty,
    detectorRerank,
    backend: opts.backend,
    ...(opts.native ? { native: opts.native } : {}),
    images: done.length,
    skipped,
    bleu: { bleu1: bleu[0]!, bleu2: bleu[1]!, bleu3: bleu[2]!, bleu4: bleu[3]! },
    ciderD: hyps.length ? ciderD(hyps, refs).score : 0,
    captions: captionStats(hyps, { vocabularySize: captioner.vocab.size - 4, unfinished }),
    unfinishedFraction: hyps.length ? unfinished.filter(Boolean).length / hyps.length : 0,
    durationMs,
    imagesPerSec: done.length / (durationMs / 1000),
  };

  if (done.length > 0) {
    const evaluated = new Set(done.map((e) => e.item.id));
    report.baselines = captionBaselines(done.map((e) => e.item), dataset.images.filter((im) => im.split !== split && !evaluated.has(im.id)));
  }

  const grounded = done.flatMap((e) => groundedCaption(e) ?? []);
  if (grounded.length > 0) {
    const grounding = sceneGrounding(grounded);
    report.content = grounding.content;
    report.attention = grounding.attention;
  }

  if (opts.predictionsPath) {
    const predictions: Prediction[] = done.map((e) => ({
      id: e.item.id,
      file: e.item.path,
      caption: e.result.caption,
      score: e.result.best.score,
      finished: e.result.best.finished,
      references: e.item.captions.map((c) => c.join(' ')),
    }));
    await writeFileAtomic(opts.predictionsPath, JSON.stringify(predictions, null, 2) + '\n');
  }
  return report;
}
