/**
 * Where one training step of the default-model recipe goes, on one thread: the step's median time with
 * caption lengths drawn from the synthetic grammar, the kernels that take it (tf.profile), and what a
 * decoder step costs (the same batch at two fixed caption lengths), hence what padding every caption
 * to its batch's longest one would cost, and what running only the rows still decoding saves. Compare variants of a kernel inside one process (alternating
 * steps): between runs this machine's step time drifts by 5-10%. Weights are untrained; timing does not depend on them.
 *
 * Run: npx tsx pipelines/bench/bench-step-profile.ts [--runs 5] [--top 12]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { generateSynthetic, loadKarpathy } from '../../src/data/index.js';
import { ShowAttendTell, Trainer, defaultModelConfig, prepareTargets, teacherForcedLoss } from '../../src/model/index.js';
import { longestFirst } from '../../src/model/trainer.js';
import { createRng } from '../../src/model/random.js';
import { DEFAULT_MODEL_RECIPE } from '../default-model-recipe.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' }, top: { type: 'string', default: '12' } } });
const runs = Number(args.runs);
const top = Number(args.top);
if (![runs, top].every((n) => Number.isInteger(n) && n >= 1)) throw new RangeError(`expected positive integers --runs, --top (got ${args.runs}, ${args.top})`);

const backend = await initBackend();
const R = DEFAULT_MODEL_RECIPE.train;
const vocabSize = 52;
const phrases = Array.from({ length: R.phrases }, (_, i): [number, number] => [4 + (i % 12), 4 + Math.floor(i / 12)]);
const config = { ...defaultModelConfig({ ...R.model, encoder: { ...R.model.encoder, channels: [...R.model.encoder.channels], kernelSizes: [...R.model.encoder.kernelSizes] }, vocabSize }), phrases };
const model = ShowAttendTell.create(config, { seed: 1 });
model.embeddingMode = 'one-hot';
const trainer = new Trainer(model, { clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1, ...R.trainer });
const rng = createRng(1);
const b = R.batchSize;
const images = Float32Array.from({ length: b * 64 * 64 * 3 }, () => rng() * 2 - 1);

/** A batch of captions of the given word counts (ids random: only the lengths matter for time). */
function batchOf(words: number[]) {
  const maxLen = Math.max(...words);
  const width = maxLen + 2;
  const captions = new Int32Array(b * width);
  const lengths = new Int32Array(b);
  words.forEach((n, i) => {
    captions[i * width] = vocabSize - 2;
    for (let t = 1; t <= n; t++) captions[i * width + t] = 1 + Math.floor(rng() * (vocabSize - 5));
    captions[i * width + n + 1] = vocabSize - 1;
    lengths[i] = n + 2;
  });
  return { batchSize: b, imageSize: 64, maxLen, images, captions, lengths, ids: [] };
}

async function medianMs(step: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 2; i++) await step();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await step();
    ms.push(performance.now() - t);
  }
  return ms.sort((x, y) => x - y)[Math.floor(ms.length / 2)]!;
}

// Caption lengths as the synthetic grammar makes them (a seed no run uses).
const root = await mkdtemp(join(tmpdir(), 'bench-step-'));
let lengths: number[];
try {
  const ds = await generateSynthetic({ outDir: join(root, 'data'), count: 300, seed: 4711 });
  lengths = (await loadKarpathy(ds.jsonPath, ds.imageDir)).images.flatMap((im) => im.captions.map((c) => c.length));
} finally {
  await rm(root, { recursive: true, force: true });
}
const drawn = () => Array.from({ length: b }, () => lengths[Math.floor(rng() * lengths.length)]!);
const realBatch = batchOf(drawn());
const meanWords = lengths.reduce((s, n) => s + n, 0) / lengths.length;
console.log(`backend ${backend.name}; batch ${b}; caption words: mean ${meanWords.toFixed(1)}, this batch's longest ${realBatch.maxLen}`);

const stepMs = await medianMs(() => trainer.step(realBatch));
console.log(`step (grammar's lengths): median ${stepMs.toFixed(0)} ms = ${((b * 1000) / stepMs).toFixed(1)} examples/s`);

const profile = await tf.profile(async () => {
  await trainer.step(realBatch);
});
const byKernel = new Map<string, { ms: number; calls: number }>();
for (const k of profile.kernels) {
  const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += Number(k.kernelTimeMs) || 0;
  e.calls++;
  byKernel.set(k.name, e);
}
const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
const conv = ['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput'].reduce((s, n) => s + (byKernel.get(n)?.ms ?? 0), 0);
console.log(`kernels of one step: ${profile.kernels.length} calls, ${total.toFixed(0)} ms; the encoder's convolutions (forward and both gradients) ${conv.toFixed(0)} ms = ${((100 * conv) / total).toFixed(0)}%`);
for (const [name, e] of [...byKernel].sort((x, y) => y[1].ms - x[1].ms).slice(0, top)) {
  console.log(`  ${name.padEnd(22)} ${e.ms.toFixed(1).padStart(7)} ms  ${String(e.calls).padStart(5)} calls`);
}

// Each convolution kernel by layer (its input's shape): which layer is worth a faster kernel.
for (const k of profile.kernels.filter((x) => x.name.startsWith('Conv2D'))) {
  console.log(`  ${k.name.padEnd(22)} ${JSON.stringify(k.inputShapes[0]).padEnd(16)} ${(Number(k.kernelTimeMs) || 0).toFixed(1).padStart(7)} ms`);
}

// A decoder step's cost: the same batch with every caption 9 words long, then 17.
const short = await medianMs(() => trainer.step(batchOf(Array<number>(b).fill(9))));
const long = await medianMs(() => trainer.step(batchOf(Array<number>(b).fill(17))));
const perStep = (long - short) / 8;
const padded = realBatch.maxLen - meanWords;
console.log(`all captions 9 words: ${short.toFixed(0)} ms; 17 words: ${long.toFixed(0)} ms; a decoder step of the batch ${perStep.toFixed(1)} ms`);
console.log(`the batch's longest caption is ${padded.toFixed(1)} steps past the mean one: ~${(padded * perStep).toFixed(0)} ms (${((100 * padded * perStep) / stepMs).toFixed(0)}% of the step) if every row ran every step`);

// The reference's shrinking batch against every row at every step: loss and gradients of the ordered
// batch, alternating the two in this process (the machine's drift between runs is larger than this).
const ordered = longestFirst(realBatch);
const targets = prepareTargets(ordered);
const imageTensor = tf.tensor4d(ordered.images, [b, 64, 64, 3]);
const vars = trainer.trainableVariables();
const lossOptions = { alphaC: R.trainer.alphaC, attentionEntropy: R.trainer.attentionEntropy, wordDetection: R.trainer.wordDetection, attentionGuidance: R.trainer.attentionGuidance, guidanceSharpness: R.trainer.guidanceSharpness, phraseDetection: R.trainer.phraseDetection, training: true, seed: 1, oneHotEmbedding: true };
const gradientMs = (everyRowEveryStep: boolean): number => {
  const t = performance.now();
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => teacherForcedLoss(model, model.encode(imageTensor, true), targets, { ...lossOptions, everyRowEveryStep }).loss, vars);
    value.dataSync();
    tf.dispose(Object.values(grads));
  });
  return performance.now() - t;
};
const timings: Record<'shrunk' | 'full', number[]> = { shrunk: [], full: [] };
for (let i = 0; i < 2 * runs + 2; i++) {
  const which = i % 2 === 0 ? 'shrunk' : 'full';
  const ms = gradientMs(which === 'full');
  if (i >= 2) timings[which].push(ms);
}
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
console.log(`loss and gradients, alternating: rows still decoding ${med(timings.shrunk).toFixed(0)} ms, every row every step ${med(timings.full).toFixed(0)} ms (x${(med(timings.full) / med(timings.shrunk)).toFixed(3)})`);
imageTensor.dispose();
trainer.dispose();
model.dispose();
