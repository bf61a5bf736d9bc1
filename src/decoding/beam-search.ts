import * as tf from '@tensorflow/tfjs';
import type { Vocabulary } from '../data/vocabulary.js';
import { decoderStep, initialMemory, initialStatePerRow, keptContext, outputLogits, type AttentionMemory } from '../model/decoder.js';
import type { ShowAttendTell } from '../model/show-attend-tell.js';
import type { BeamOptions, CaptionResult, Hypothesis } from '../model/types.js';
import type { SearchHooks, StepInfo } from './hooks.js';

/** A hypothesis as a linked list back to <start>, so a step shares its history instead of copying it. */
interface Node {
  word: number;
  logProb: number;
  alpha: Float32Array;
  parent: Node | null;
}

function checkOptions(opts: BeamOptions): Required<BeamOptions> {
  const { beamSize, maxSteps } = opts;
  const returnAlternatives = opts.returnAlternatives ?? 1;
  if (!Number.isInteger(beamSize) || beamSize < 1) throw new RangeError(`beamSize must be an integer >= 1 (got ${beamSize})`);
  if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new RangeError(`maxSteps must be an integer >= 1 (got ${maxSteps})`);
  if (!Number.isInteger(returnAlternatives) || returnAlternatives < 1) throw new RangeError(`returnAlternatives must be an integer >= 1 (got ${returnAlternatives})`);
  return { beamSize, maxSteps, returnAlternatives };
}

function idsOf(node: Node | null): number[] {
  const ids: number[] = [];
  for (let n = node; n; n = n.parent) ids.push(n.word);
  return ids.reverse();
}

function toHypothesis(node: Node, finished: boolean, vocab: Vocabulary): Hypothesis {
  const ids: number[] = [];
  const attention: Float32Array[] = [];
  for (let n: Node | null = node; n; n = n.parent) {
    ids.push(n.word);
    attention.push(n.alpha);
  }
  ids.reverse();
  attention.reverse();
  const words = ids.filter((id) => id !== vocab.endId).map((id) => vocab.wordOf(id));
  return { ids, words, logProb: node.logProb, score: node.logProb, finished, attention };
}

/**
 * Beam search with the reference's semantics, batched: every image's k hypotheses advance together in
 * one [B*k]-row tensor step against the untiled [B, L, enc] annotations. Step 1 takes the top k of
 * the single <start> row; later steps the top k_b over the flattened k_b x V cumulative log-probs;
 * a hypothesis emitting <end> leaves the beam, which shrinks by one. After maxSteps emitted tokens
 * the search stops; if an image has no finished hypothesis, its best unfinished one is returned with
 * finished = false (the reference crashes there). The best hypothesis is the finished one with the
 * highest summed log-probability, as in the reference.
 *
 * `hooks` (hooks.ts) is the only way to change that: logits processors rewrite each step's
 * log-probabilities before the cumulative scores are added (and so steer the pruning); re-scorers
 * change the finished hypotheses' scores before the final ranking. Without hooks the search
 * reproduces the reference exactly. Does not dispose `features`.
 */
export async function beamSearch(model: ShowAttendTell, features: tf.Tensor3D, vocab: Vocabulary, opts: BeamOptions, hooks: SearchHooks = {}): Promise<CaptionResult[]> {
  const { beamSize: k, maxSteps, returnAlternatives } = checkOptions(opts);
  const cfg = model.config;
  const [b, l, enc] = features.shape;
  if (enc !== cfg.encoderDim || l !== cfg.gridSize ** 2) {
    throw new RangeError(`beamSearch: features are [${features.shape.join(', ')}], the model expects [B, ${cfg.gridSize ** 2}, ${cfg.encoderDim}]`);
  }
  if (vocab.size !== cfg.vocabSize) throw new RangeError(`beamSearch: vocabulary has ${vocab.size} words, the model ${cfg.vocabSize}`);
  if (b === 0) return [];
  const processors = hooks.logitsProcessors ?? [];
  const v = cfg.vocabSize;
  const rows = b * k;
  const w = model.decoder;
  const { att1, featuresT, tensors: ctx } = keptContext(w, features);
  let { h, c } = tf.tidy(() => initialStatePerRow(w, features, k, cfg.initState));
  let memory: AttentionMemory | undefined = initialMemory(w, rows, l);
  const finished: Node[][] = Array.from({ length: b }, () => []);
  let rowNode: (Node | null)[] = new Array<Node | null>(rows).fill(null);
  const live = new Array<number>(b).fill(k);
  // Only slot 0 of each image is a real hypothesis at the start: its k copies must not compete.
  let cum = new Float32Array(rows).fill(-Infinity);
  for (let i = 0; i < b; i++) cum[i * k] = 0;
  let words = new Int32Array(rows).fill(vocab.startId);
  try {
    for (let step = 1; step <= maxSteps && live.some((n) => n > 0); step++) {
      const stepMemory = memory;
      const nodes = rowNode;
      const info: StepInfo = { step, beamSize: k, tokens: (row) => (step === 1 ? (row % k === 0 ? [] : null) : nodes[row] ? idsOf(nodes[row]) : null) };
      const [values, indices, alpha, hNew, cNew, previous, coverage] = tf.tidy(() => {
        const emb = tf.gather(w.embedding, tf.tensor1d(words, 'int32')) as tf.Tensor2D;
        const out = decoderStep(w, { features, att1, featuresT }, emb, h, c, cfg.attentionActivation, k, stepMemory);
        let logp = tf.logSoftmax(outputLogits(w, out.h, out.context, 0, false)) as tf.Tensor2D;
        for (const p of processors) logp = p.process(logp, info);
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
          if (!Number.isFinite(score)) break; // fewer than k real candidates (tiny vocabularies, banned words)
          const flat = idx[i * k + j]!;
          const row = i * k + Math.floor(flat / v);
          const word = flat % v;
          const node: Node = { word, logProb: score, alpha: (al as Float32Array).slice(row * l, row * l + l), parent: rowNode[row] ?? null };
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
    tf.dispose([...ctx, h, c, memory?.previous, memory?.coverage]);
  }
  const byScore = (x: Hypothesis, y: Hypothesis) => y.score - x.score;
  return finished.map((nodes, i) => {
    const done = rescore(i, nodes.map((n) => toHypothesis(n, true, vocab)), hooks);
    const open: Hypothesis[] = [];
    for (let j = 0; j < live[i]!; j++) {
      const node = rowNode[i * k + j];
      if (node) open.push(toHypothesis(node, false, vocab));
    }
    done.sort(byScore);
    open.sort(byScore);
    const alternatives = [...done, ...open].slice(0, returnAlternatives);
    const best = alternatives[0]!;
    return { caption: best.words.join(' '), best, alternatives, gridSize: cfg.gridSize };
  });
}

/** Runs the re-scorers in order over one image's finished hypotheses. */
function rescore(image: number, hypotheses: Hypothesis[], hooks: SearchHooks): Hypothesis[] {
  if (hypotheses.length === 0) return hypotheses;
  let current = hypotheses;
  for (const r of hooks.rescorers ?? []) {
    const scores = r.rescore(image, current);
    if (scores.length !== current.length) throw new RangeError(`a re-scorer returned ${scores.length} scores for ${current.length} hypotheses`);
    current = current.map((h, j) => ({ ...h, score: scores[j]! }));
  }
  return current;
}
