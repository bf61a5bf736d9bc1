import * as tf from '@tensorflow/tfjs';
import type { Vocabulary } from '../data/vocabulary.js';
import { decoderStep, initialMemory, initialStatePerRow, keptContext, outputLogits, type AttentionMemory } from './decoder.js';
import { detectorAgreement, detectorViews, type DetectorView } from './detector-rerank.js';
import { phraseProbabilities, readTwinMarks } from './twin-marks.js';
import { DEFAULT_ORDER_MARGIN, nextObjectWord, readObjectKinds, sizeWordsOf, type ObjectKind, type SizeWords } from './object-order.js';
import { openingCandidates, rerankCandidates } from './learned-rerank.js';
import type { ShowAttendTell } from './show-attend-tell.js';
import type { BeamOptions, CaptionResult, Hypothesis, ModelConfig } from './types.js';

/** A hypothesis as a linked list back to <start>, so a step shares its history instead of copying it. */
interface Node {
  word: number;
  logProb: number;
  len: number;
  alpha: Float32Array;
  parent: Node | null;
}

/**
 * The detector re-ranking weight a model gets when BeamOptions.detectorRerank is absent: on for
 * models trained with a word detector (see detector-rerank.ts for what it measured), off otherwise.
 */
export const DEFAULT_DETECTOR_RERANK = 1;

/** The re-ranking weight beamSearch uses for a model when none is given. */
export function defaultDetectorRerank(config: Pick<ModelConfig, 'wordDetector'>): number {
  return config.wordDetector === true ? DEFAULT_DETECTOR_RERANK : 0;
}

/** The search bonuses beamSearch uses: the caller's, else the model's own (config.searchDefaults), else 0. */
export function searchBonuses(config: Pick<ModelConfig, 'searchDefaults'>, opts: Pick<BeamOptions, 'groupBonus' | 'orderBonus'>): { groupBonus: number; orderBonus: number } {
  const own = config.searchDefaults;
  return { groupBonus: opts.groupBonus ?? own?.groupBonus ?? 0, orderBonus: opts.orderBonus ?? own?.orderBonus ?? 0 };
}

function checkOptions(opts: BeamOptions, model: ShowAttendTell, vocab: Vocabulary): Required<BeamOptions> {
  const { beamSize, maxSteps } = opts;
  const lengthPenalty = opts.lengthPenalty ?? 0;
  const returnAlternatives = opts.returnAlternatives ?? 1;
  const hasDetector = model.config.wordDetector === true;
  const detectorRerank = opts.detectorRerank ?? defaultDetectorRerank(model.config);
  if (!(detectorRerank >= 0)) throw new RangeError(`detectorRerank must be >= 0 (got ${detectorRerank})`);
  if (detectorRerank > 0 && !hasDetector) throw new RangeError('detectorRerank (--detector-rerank) needs a model trained with a word detector (config.wordDetector); this one has none: use 0');
  if (!Number.isInteger(beamSize) || beamSize < 1) throw new RangeError(`beamSize must be an integer >= 1 (got ${beamSize})`);
  if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new RangeError(`maxSteps must be an integer >= 1 (got ${maxSteps})`);
  if (!(lengthPenalty >= 0)) throw new RangeError(`lengthPenalty must be >= 0 (got ${lengthPenalty})`);
  if (!Number.isInteger(returnAlternatives) || returnAlternatives < 1) {
    throw new RangeError(`returnAlternatives must be an integer >= 1 (got ${returnAlternatives})`);
  }
  const learnedRerank = opts.learnedRerank ?? model.reranker !== undefined;
  if (learnedRerank && !model.reranker) throw new RangeError('learnedRerank needs a model with a learned re-ranker (reranker.json beside it, from `captioner rerank-train`); this one has none');
  const style = opts.style ?? 0;
  if (!(Number.isInteger(style) && style >= 0 && style < vocab.styleCount)) {
    const styles = vocab.styleCount > 1 ? `an integer from 0 to ${vocab.styleCount - 1}, the model's annotator styles` : '0: the model was trained without annotator styles';
    throw new RangeError(`style (--style) must be ${styles} (got ${style})`);
  }
  if (style !== 0 && learnedRerank) throw new RangeError(`style ${style}: the learned re-ranker completes openings in style 0 only; pass learnedRerank: false (--no-learned-rerank) with another style`);
  const { groupBonus, orderBonus } = searchBonuses(model.config, opts);
  if (!(groupBonus >= 0)) throw new RangeError(`groupBonus (--group-bonus) must be >= 0 (got ${groupBonus})`);
  if (groupBonus > 0 && !model.config.twinMarks) throw new RangeError('groupBonus (--group-bonus) reads the twin marks: the model was trained without them (captioner train --twin-marks)');
  if (!(orderBonus >= 0)) throw new RangeError(`orderBonus (--order-bonus) must be >= 0 (got ${orderBonus})`);
  if (orderBonus > 0 && !model.config.twinMarks) throw new RangeError('orderBonus (--order-bonus) reads the object phrases of the twin marks: the model was trained without them (captioner train --twin-marks)');
  const orderMargin = opts.orderMargin ?? DEFAULT_ORDER_MARGIN;
  if (!(orderMargin >= 0 && orderMargin < 1)) throw new RangeError(`orderMargin (--order-margin) must be in [0, 1) (got ${orderMargin})`);
  return { beamSize, maxSteps, lengthPenalty, returnAlternatives, detectorRerank, learnedRerank, style, groupBonus, orderBonus, orderMargin };
}

/** `view` (what the detector says of the image) and `rerank` > 0 add rerank x detectorAgreement to the score. */
function toHypothesis(node: Node, finished: boolean, vocab: Vocabulary, lengthPenalty: number, rerank: number, view?: DetectorView): Hypothesis {
  const ids: number[] = [];
  const attention: Float32Array[] = [];
  for (let n: Node | null = node; n; n = n.parent) {
    ids.push(n.word);
    attention.push(n.alpha);
  }
  ids.reverse();
  attention.reverse();
  // The search never emits <pad> or <start>, so words[i] is the token of ids[i] and attention[i].
  const words = ids.filter((id) => id !== vocab.endId).map((id) => vocab.wordOf(id));
  const base = lengthPenalty > 0 ? node.logProb / Math.pow(ids.length, lengthPenalty) : node.logProb;
  const score = view && rerank > 0 ? base + rerank * detectorAgreement(ids, view, vocab) : base;
  return { ids, words, logProb: node.logProb, score, finished, attention };
}

/**
 * Beam search with the reference's semantics, batched: every image's k hypotheses advance together in
 * one [B*k]-row tensor step against the untiled [B, L, enc] annotations. Step 1 takes the top k of
 * the single <start> row; later steps the top k_b over the flattened k_b x V cumulative log-probs;
 * a hypothesis emitting <end> leaves the beam, which shrinks by one. After maxSteps emitted tokens
 * the search stops; if an image has no finished hypothesis, its best unfinished one is returned with
 * finished = false (the reference crashes there). lengthPenalty > 0 only changes the final ranking
 * (logProb / length^a), never the pruning, so 0 reproduces the reference exactly. detectorRerank > 0
 * (the default for models with a word detector) also changes only the final ranking: every finished
 * hypothesis, not just k, competes on its score plus that weight times its agreement with the detector.
 * Does not dispose `features`.
 */
export async function beamSearch(model: ShowAttendTell, features: tf.Tensor3D, vocab: Vocabulary, opts: BeamOptions): Promise<CaptionResult[]> {
  const { beamSize: k, maxSteps, lengthPenalty, returnAlternatives, detectorRerank, learnedRerank, style, groupBonus, orderBonus, orderMargin } = checkOptions(opts, model, vocab);
  const cfg = model.config;
  const [b, l, enc] = features.shape;
  if (enc !== cfg.encoderDim || l !== cfg.gridSize ** 2) {
    throw new RangeError(`beamSearch: features are [${features.shape.join(', ')}], the model expects [B, ${cfg.gridSize ** 2}, ${cfg.encoderDim}]`);
  }
  if (vocab.size !== cfg.vocabSize) throw new RangeError(`beamSearch: vocabulary has ${vocab.size} words, the model ${cfg.vocabSize}`);
  if (b === 0) return [];
  const v = cfg.vocabSize;
  const rows = b * k;
  const w = model.decoder;
  // The decoder reads the annotations with their twin marks, the detectors (below) without.
  // The bonuses read the phrase detector once: the marks for the group bonus, the kinds of object for both.
  const cells = groupBonus > 0 || orderBonus > 0 ? phraseProbabilities(model, features) : undefined;
  const marks = cells && readTwinMarks(model, features, cells);
  const kinds = cells && readObjectKinds(model, features, vocab, cells);
  const annotations = model.decoderAnnotations(features, marks);
  const { att1, featuresT, tensors: ctx } = keptContext(w, annotations);
  let { h, c } = tf.tidy(() => initialStatePerRow(w, annotations, k, cfg.initState));
  let memory: AttentionMemory | undefined = initialMemory(w, rows, l);
  // <pad> and the start tokens are never words of a caption: an undertrained model can still rank
  // them high, and emitting them would leave a hypothesis whose attention maps and words disagree.
  const banned = new Float32Array(v);
  banned[vocab.padId] = -Infinity;
  for (const id of vocab.startIds) banned[id] = -Infinity;
  // Grouping words only where a kind can be grouped (twins of one size), and "there are" only where
  // a caption naming objects left to right opens with such a kind.
  // (A kind has two or more objects exactly where the twin marks see twins: same phrases, same blobs.)
  const grouping = groupBonus > 0 ? kinds?.map((seen) => (!seen.some((kind) => kind.groupable) ? [] : seen[0]?.groupable ? [...COUNT_WORDS, 'are'] : COUNT_WORDS)) : undefined;
  const banMask = grouping ? groupingBias(grouping, vocab, banned, k, groupBonus) : tf.tensor2d(banned, [1, v]);
  const countIds = COUNT_WORDS.map((w) => vocab.idOf(w)).map((id) => (id === vocab.unkId ? undefined : id));
  const sizeIds = sizeWordsOf(vocab);
  const finished: Node[][] = Array.from({ length: b }, () => []);
  let rowNode: (Node | null)[] = new Array<Node | null>(rows).fill(null);
  const live = new Array<number>(b).fill(k);
  // Only slot 0 of each image is a real hypothesis at the start: its k copies must not compete.
  let cum = new Float32Array(rows).fill(-Infinity);
  for (let i = 0; i < b; i++) cum[i * k] = 0;
  let words = new Int32Array(rows).fill(vocab.startIds[style]!);
  try {
    for (let step = 1; step <= maxSteps && live.some((n) => n > 0); step++) {
      const stepMemory = memory;
      const [values, indices, alpha, hNew, cNew, previous, coverage] = tf.tidy(() => {
        const emb = tf.gather(w.embedding, tf.tensor1d(words, 'int32')) as tf.Tensor2D;
        const out = decoderStep(w, { features: annotations, att1, featuresT }, emb, h, c, cfg.attentionActivation, k, stepMemory);
        const logp = tf.add(tf.logSoftmax(outputLogits(w, out.h, out.context, 0, false)), kinds && orderBonus > 0 ? tf.add(banMask, orderBias(kinds, rowNode, k, v, orderBonus, orderMargin, countIds, sizeIds)) : banMask);
        const scores = tf.reshape(tf.add(logp, tf.tensor2d(cum, [rows, 1])), [b, k * v]);
        const top = tf.topk(scores, k);
        // The memory's `previous` is alpha itself: a clone, because alpha is disposed below.
        return [top.values, top.indices, out.alpha, out.h, out.c, out.memory && tf.clone(out.memory.previous), out.memory?.coverage] as const;
      });
      tf.dispose([h, c, memory?.previous, memory?.coverage]);
      h = hNew;
      c = cNew;
      memory = previous && coverage ? { previous, coverage } : undefined;
      const [vals, idx, al] = await Promise.all([values.data(), indices.data(), alpha.data()]).finally(() => tf.dispose([values, indices, alpha]));
      const src = new Int32Array(rows);
      const nextCum = new Float32Array(rows).fill(-Infinity);
      const nextWords = new Int32Array(rows).fill(vocab.padId);
      const nextNode = new Array<Node | null>(rows).fill(null);
      for (let i = 0; i < b; i++) {
        let m = 0;
        for (let j = 0; j < live[i]!; j++) {
          const score = vals[i * k + j]!;
          if (!Number.isFinite(score)) break; // fewer than k real candidates (tiny vocabularies)
          const flat = idx[i * k + j]!;
          const row = i * k + Math.floor(flat / v);
          const word = flat % v;
          const parent = rowNode[row] ?? null;
          const node: Node = { word, logProb: score, len: (parent?.len ?? 0) + 1, alpha: (al as Float32Array).slice(row * l, row * l + l), parent };
          if (word === vocab.endId) {
            finished[i]!.push(node);
          } else {
            const dst = i * k + m++;
            src[dst] = row;
            nextCum[dst] = score;
            nextWords[dst] = word;
            nextNode[dst] = node;
          }
        }
        live[i] = m;
        for (let j = m; j < k; j++) src[i * k + j] = i * k;
      }
      cum = nextCum;
      words = nextWords;
      rowNode = nextNode;
      // Every row continues the hypothesis it was chosen from: its state and its memory follow it.
      const [hg, cg, pg, cvg] = tf.tidy(() => {
        const s = tf.tensor1d(src, 'int32');
        return [tf.gather(h, s), tf.gather(c, s), memory && tf.gather(memory.previous, s), memory && tf.gather(memory.coverage, s)];
      });
      tf.dispose([h, c, memory?.previous, memory?.coverage]);
      h = hg as tf.Tensor2D;
      c = cg as tf.Tensor2D;
      memory = pg && cvg ? { previous: pg as tf.Tensor2D, coverage: cvg as tf.Tensor2D } : undefined;
    }
  } finally {
    tf.dispose([...ctx, ...(annotations === features ? [] : [annotations]), h, c, banMask, memory?.previous, memory?.coverage]);
  }
  const reranker = learnedRerank ? model.reranker : undefined;
  const views = detectorRerank > 0 || reranker ? detectorViews(model, features) : [];
  const opened = reranker ? await openingCandidates(model, features, vocab, reranker.openings, { maxSteps, detectorRerank, views }) : [];
  const results: CaptionResult[] = [];
  for (let i = 0; i < b; i++) {
    const hypothesis = (n: Node, done: boolean) => toHypothesis(n, done, vocab, lengthPenalty, detectorRerank, views[i]);
    const searched = finished[i]!.map((n) => hypothesis(n, true));
    const done = reranker && searched.length > 0 ? rerankCandidates(reranker, searched, opened[i]!, views[i]!, vocab, cfg.gridSize) : searched;
    const open: Hypothesis[] = [];
    for (let j = 0; j < live[i]!; j++) {
      const node = rowNode[i * k + j];
      if (node) open.push(hypothesis(node, false));
    }
    const byScore = (x: Hypothesis, y: Hypothesis) => y.score - x.score;
    done.sort(byScore);
    open.sort(byScore);
    const alternatives = [...done, ...open].slice(0, returnAlternatives);
    const best = alternatives[0]!;
    results.push({ caption: best.words.join(' '), best, alternatives, gridSize: cfg.gridSize });
  }
  return results;
}

/**
 * [B * k, V]: `bonus` on the word each row's hypothesis should say next to name the objects left to
 * right (object-order.ts), from the kinds of object its image shows.
 */
function orderBias(kinds: readonly ObjectKind[][], rowNode: readonly (Node | null)[], k: number, v: number, bonus: number, margin: number, countIds: readonly (number | undefined)[], sizeIds?: SizeWords): tf.Tensor2D {
  const bias = new Float32Array(rowNode.length * v);
  rowNode.forEach((node, r) => {
    const ids: number[] = [];
    for (let n = node; n; n = n.parent) ids.push(n.word);
    const word = nextObjectWord(kinds[Math.floor(r / k)]!, ids.reverse(), margin, countIds, sizeIds);
    if (word !== undefined) bias[r * v + word] = bonus;
  });
  return tf.tensor2d(bias, [rowNode.length, v]);
}

/** The words that group objects of one kind. */
const COUNT_WORDS = ['two', 'three'];

/**
 * [B * k, V]: `banned` on every row, plus `bonus` on each image's `words` (those of them in the
 * vocabulary) on its rows: the words that group objects ("two", "three", "are") where its twin
 * marks see twins.
 */
function groupingBias(words: readonly (readonly string[])[], vocab: Vocabulary, banned: Float32Array, k: number, bonus: number): tf.Tensor2D {
  const v = banned.length;
  const bias = new Float32Array(words.length * k * v);
  words.forEach((list, i) => {
    const ids = list.map((w) => vocab.idOf(w)).filter((id) => id !== vocab.unkId);
    for (let r = i * k; r < (i + 1) * k; r++) {
      bias.set(banned, r * v);
      for (const id of ids) bias[r * v + id] = bonus;
    }
  });
  return tf.tensor2d(bias, [words.length * k, v]);
}
