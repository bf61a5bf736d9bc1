import type { CaptionedImage, PreprocessConfig } from '../src/data/types.js';
import type { Vocabulary } from '../src/data/vocabulary.js';
import { beamSearch, candidateFeatures, defaultDetectorRerank, candidatePool, detectorViews, encodeImages, openingCandidates, type ShowAttendTell } from '../src/model/index.js';
import { bestReferenceBleu4 } from '../src/model/self-critical.js';
import { imageLoader } from './train-data.js';

/** One image's candidates as the re-ranker sees them and as BLEU rewards them. */
export interface ImagePool {
  /** Feature vectors, one per candidate (rerank-features.ts). */
  features: Float32Array[];
  /** Each candidate's BLEU-4 against the reference it matches best. */
  rewards: number[];
  /** The model's own score of each (Hypothesis.score); the first candidate is the beam's choice. */
  scores: number[];
  words: string[][];
  references: string[][];
}

export interface PoolOptions {
  beamSize: number;
  maxSteps: number;
  openings: readonly (readonly string[])[];
  /** Images encoded and searched together. */
  chunk?: number;
  /** Called after each chunk with the number of images done. */
  progress?: (done: number) => void;
  signal?: AbortSignal;
}

/**
 * The candidate pools of images, built as beam search builds them when it re-ranks (the beam's
 * finished captions plus the openings' completions), with the features and rewards the re-ranker
 * learns from. Images whose search finishes no caption are skipped: at inference they keep the beam's.
 */
export async function candidatePools(model: ShowAttendTell, vocab: Vocabulary, preprocess: PreprocessConfig, images: readonly CaptionedImage[], o: PoolOptions): Promise<ImagePool[]> {
  const load = imageLoader(preprocess, false);
  const chunk = o.chunk ?? 50;
  const pools: ImagePool[] = [];
  for (let i = 0; i < images.length; i += chunk) {
    o.signal?.throwIfAborted();
    const part = images.slice(i, i + chunk);
    const features = encodeImages(model, await Promise.all(part.map(load)));
    try {
      const results = await beamSearch(model, features, vocab, { beamSize: o.beamSize, maxSteps: o.maxSteps, returnAlternatives: Number.MAX_SAFE_INTEGER, learnedRerank: false });
      const views = detectorViews(model, features);
      // The completions are scored as the beam scores its captions (the model's default re-ranking).
      const detectorRerank = defaultDetectorRerank(model.config);
      const opened = await openingCandidates(model, features, vocab, o.openings, { maxSteps: o.maxSteps, detectorRerank, views });
      results.forEach((r, j) => {
        const searched = r.alternatives.filter((h) => h.finished);
        if (searched.length === 0) return;
        const pool = candidatePool(searched, opened[j]!);
        const references = part[j]!.captions;
        pools.push({
          features: pool.map((c) => candidateFeatures(c, views[j]!, vocab, model.config.gridSize)),
          rewards: pool.map((c) => bestReferenceBleu4(c.words, references)),
          scores: pool.map((c) => c.score),
          words: pool.map((c) => c.words),
          references,
        });
      });
    } finally {
      features.dispose();
    }
    o.progress?.(Math.min(i + chunk, images.length));
  }
  return pools;
}
