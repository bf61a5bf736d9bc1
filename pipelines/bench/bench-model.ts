/**
 * Model throughput on the current backend: training examples/s and captioning images/s (beam 1 and 4)
 * for the default synthetic-scene model and for the reference decoder sizes on precomputed features
 * (2048-d on 14x14, 512/512/512, vocabulary 9490, batch 32). Prints medians of several timed runs
 * after a warm-up. Run: npx tsx pipelines/bench/bench-model.ts [--runs 5] [--ref-runs 3] [--skip-reference]
 * [--recipe-batches 32,64] (the default-model recipe on one thread at each batch size: does a bigger
 * batch amortise a per-step overhead?) [--ref-workers 1,2] (reference training on each number of step
 * workers)
 *
 * Weights are untrained, so beam search runs to a fixed step cap (no hypothesis is forced to end):
 * the captioning numbers are for captions of exactly that many steps.
 *
 * Without CAPTIONER_BACKEND (npm run bench:model) it runs itself once per backend that loads (wasm,
 * and node where `npm run setup:native` built it), then PyTorch's figures for the reference sizes
 * (pytorch_reference.py, when a python3 with torch is found: CAPTIONER_TORCH_PYTHON, /usr/bin/python3
 * or python3), and prints the figures side by side. With CAPTIONER_BACKEND set it measures that
 * backend alone; --json FILE also writes its figures. --only-reference measures the reference sizes
 * only; --torch-results FILE takes PyTorch's figures from an earlier pytorch_reference.py run (its
 * output) instead of running it, which takes minutes where torch has no MKL.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { beamSearch } from '../../src/decoding/index.js';
import { ShowAttendTell, Trainer, defaultModelConfig, referenceModelConfig, type EmbeddingMode, type ModelConfig, type TrainerOptions } from '../../src/model/index.js';
import { createRng } from '../../src/model/random.js';
import { GradientWorkers } from '../../src/runtime/gradient-workers.js';
import { packageRoot } from '../../src/io/package-root.js';
import { DEFAULT_MODEL_RECIPE } from '../default-model-recipe.js';
import { nativeBackendLoads } from '../../src/backend/native-loads.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] ?? 5) || 5;
const refRuns = Number(args[args.indexOf('--ref-runs') + 1] ?? 3) || 3;
const skipReference = args.includes('--skip-reference');
const onlyReference = args.includes('--only-reference');
const torchResults = args.includes('--torch-results') ? args[args.indexOf('--torch-results') + 1] : undefined;
const recipeBatchesArg = args.includes('--recipe-batches') ? args[args.indexOf('--recipe-batches') + 1] ?? '' : '32';
const recipeBatches = recipeBatchesArg.split(',').map(Number);
const refWorkersArg = args.includes('--ref-workers') ? args[args.indexOf('--ref-workers') + 1] ?? '' : '1';
const refWorkers = refWorkersArg.split(',').map(Number);
if (!refWorkers.every((w) => Number.isInteger(w) && w > 0)) throw new RangeError(`--ref-workers ${refWorkersArg}: expected comma-separated positive integers`);
if (!recipeBatches.every((b) => Number.isInteger(b) && b > 0)) throw new RangeError(`--recipe-batches ${recipeBatchesArg}: expected comma-separated positive integers`);

function vocabOf(size: number): Vocabulary {
  return Vocabulary.fromJSON({ formatVersion: 1, words: ['<pad>', ...Array.from({ length: size - 4 }, (_, i) => `w${i}`), '<unk>', '<start>', '<end>'] });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timeRuns(n: number, fn: () => Promise<void>): Promise<number[]> {
  await fn(); // warm-up: kernel compilation, optimizer state, caches
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return ms;
}

/** B captions of random words, lengths spread over [minWords, maxWords]. */
function captions(vocab: Vocabulary, b: number, minWords: number, maxWords: number, rng: () => number) {
  const width = maxWords + 2;
  const ids = new Int32Array(b * width);
  const lengths = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    const n = minWords + Math.floor(rng() * (maxWords - minWords + 1));
    ids[i * width] = vocab.startId;
    for (let t = 1; t <= n; t++) ids[i * width + t] = 1 + Math.floor(rng() * (vocab.size - 4));
    ids[i * width + n + 1] = vocab.endId;
    lengths[i] = n + 2;
  }
  return { ids, lengths };
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));

/** One measured figure, keyed so that runs on other backends (and PyTorch's) line up with it. */
interface BenchRecord {
  key: string;
  value: number;
  unit: 'examples/s' | 'images/s';
}
const records: BenchRecord[] = [];

async function benchTraining(label: string, config: ModelConfig, b: number, imageSize: number, words: [number, number], mode: EmbeddingMode, runs: number, workers = 1, overrides: Partial<TrainerOptions> = {}): Promise<void> {
  const vocab = vocabOf(config.vocabSize);
  const rng = createRng(1);
  const model = ShowAttendTell.create(config, { seed: 1 });
  model.embeddingMode = mode;
  const options = { decoderLr: 4e-4, encoderLr: 1e-4, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1, ...overrides };
  const helpers = workers > 1 ? await GradientWorkers.start({ workers: workers - 1, config, trainer: options, backend: info.name }) : undefined;
  const trainer = new Trainer(model, options, helpers);
  const { ids, lengths } = captions(vocab, b, words[0], words[1], rng);
  const precomputed = config.encoder.kind === 'precomputed';
  const features = precomputed ? tf.randomUniform([b, config.gridSize ** 2, config.encoderDim], 0, 1, 'float32', 1) as tf.Tensor3D : null;
  const images = precomputed ? null : Float32Array.from({ length: b * imageSize * imageSize * 3 }, () => rng() * 2 - 1);
  const step = async () => {
    if (features) await trainer.stepOnFeatures(features, { batchSize: b, captions: ids, lengths });
    else await trainer.step({ batchSize: b, imageSize, maxLen: words[1], images: images!, captions: ids, lengths, ids: [] });
  };
  // A worker thread's first steps are slow (its JIT and kernels warm up): give it a few more.
  for (let i = 0; i < (helpers ? 3 : 0); i++) await step();
  const ms = await timeRuns(runs, step);
  const m = median(ms);
  const embedding = model.useOneHotEmbedding() ? 'oneHot·E' : 'gather';
  records.push({ key: `train   ${label}: batch ${b}, embedding ${embedding}, ${workers} thread${workers > 1 ? 's' : ''}`, value: (b * 1000) / m, unit: 'examples/s' });
  console.log(`train   ${label}: batch ${b}, ${words[0]}-${words[1]} words, embedding ${embedding}, ${workers} thread${workers > 1 ? 's' : ''}: median ${fmt(m)} ms/step = ${fmt((b * 1000) / m)} examples/s  [runs ${ms.map(fmt).join(', ')}]`);
  features?.dispose();
  trainer.dispose();
  model.dispose();
  await helpers?.dispose();
}

async function benchCaptioning(label: string, config: ModelConfig, b: number, imageSize: number, beamSize: number, maxSteps: number, runs: number): Promise<void> {
  const vocab = vocabOf(config.vocabSize);
  const model = ShowAttendTell.create(config, { seed: 2 });
  // Push <end> far down so every image decodes exactly maxSteps tokens: comparable runs.
  tf.tidy(() => {
    const bias = model.decoder.fcBias.arraySync() as number[];
    bias[vocab.endId] = -1e4;
    model.decoder.fcBias.assign(tf.tensor1d(bias));
  });
  const precomputed = config.encoder.kind === 'precomputed';
  const input = precomputed
    ? tf.randomUniform([b, config.gridSize ** 2, config.encoderDim], 0, 1, 'float32', 2)
    : tf.randomUniform([b, imageSize, imageSize, 3], -1, 1, 'float32', 2);
  const ms = await timeRuns(runs, async () => {
    const feats = model.encode(input as tf.Tensor4D);
    try {
      await beamSearch(model, feats, vocab, { beamSize, maxSteps });
    } finally {
      feats.dispose();
    }
  });
  const m = median(ms);
  records.push({ key: `caption ${label}: batch ${b}, beam ${beamSize}, ${maxSteps} steps`, value: (b * 1000) / m, unit: 'images/s' });
  console.log(`caption ${label}: batch ${b}, beam ${beamSize}, ${maxSteps} steps${precomputed ? ' (features given)' : ' (incl. encoder)'}: median ${fmt(m)} ms/batch = ${fmt((b * 1000) / m)} images/s  [runs ${ms.map(fmt).join(', ')}]`);
  input.dispose();
  model.dispose();
}

const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
if (process.env.CAPTIONER_BACKEND === undefined) {
  await sideBySide();
  process.exit(0);
}

/** Runs this script on each backend that loads and PyTorch's script, then prints one table. */
async function sideBySide(): Promise<void> {
  const dir = await mkdtemp(join(os.tmpdir(), 'bench-model-'));
  const columns: Array<{ name: string; figures: Map<string, BenchRecord> }> = [];
  const run = (cmd: string, argv: string[], env: NodeJS.ProcessEnv, stdout: 'inherit' | 'pipe'): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = spawn(cmd, argv, { env, stdio: ['ignore', stdout, 'inherit'] });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${argv.join(' ')} exited with ${code}`))));
    });
  const passOn = args.filter((a, i) => a !== '--json' && args[i - 1] !== '--json');
  // PyTorch at its best here: with one thread of its own (a system BLAS, e.g. Debian's OpenBLAS, then
  // threads the products itself; two pools would contend) and with one per core; the faster per row.
  const torchOutput = async (python: string): Promise<string> => {
    if (torchResults) return readFile(torchResults, 'utf8');
    const script = join(packageRoot(), 'pipelines/bench/pytorch_reference.py');
    let out = '';
    for (const threads of [...new Set([1, os.availableParallelism()])]) out += await run(python, [script, '--runs', String(refRuns), '--threads', String(threads)], process.env, 'pipe');
    return out;
  };
  for (const backend of ['wasm', ...(nativeBackendLoads() ? ['node'] : [])]) {
    console.log(`\n== ${backend}`);
    // On native each part runs as the project runs it by default (shareCoresAmong): the compact
    // model with one TensorFlow thread per step worker, the reference sizes with every core.
    const parts = backend === 'node' && !onlyReference && !skipReference ? [['--skip-reference'], ['--only-reference']] : [[]];
    const figures: BenchRecord[] = [];
    for (const [i, part] of parts.entries()) {
      const file = join(dir, `${backend}-${i}.json`);
      const threads = backend === 'node' && part[0] !== '--only-reference' && !onlyReference ? { TF_NUM_INTRAOP_THREADS: process.env.TF_NUM_INTRAOP_THREADS ?? '1', TF_NUM_INTEROP_THREADS: process.env.TF_NUM_INTEROP_THREADS ?? '1' } : {};
      await run(process.execPath, [...process.execArgv, process.argv[1]!, ...passOn, ...part, '--json', file], { ...process.env, ...threads, CAPTIONER_BACKEND: backend }, 'inherit');
      figures.push(...(JSON.parse(await readFile(file, 'utf8')) as BenchRecord[]));
    }
    columns.push({ name: backend === 'node' ? 'native' : backend, figures: new Map(figures.map((r) => [r.key, r])) });
  }
  const python = skipReference ? undefined : torchResults ?? torchPython();
  if (python) {
    console.log(`\n== PyTorch (${python}; the reference sizes only)`);
    const out = await torchOutput(python);
    const torch = new Map<string, BenchRecord>();
    for (const line of out.split('\n').filter((l) => l.startsWith('{'))) {
      const r = JSON.parse(line) as { key: string; value: number; unit: BenchRecord['unit']; engine: string };
      console.log(`${r.key}: ${fmt(r.value)} ${r.unit} (${r.engine})`);
      for (const key of torchRows(r.key)) if ((torch.get(key)?.value ?? -Infinity) < r.value) torch.set(key, { key, value: r.value, unit: r.unit });
    }
    columns.push({ name: 'PyTorch', figures: torch });
  } else if (!skipReference) {
    console.log('\n(no python3 with torch found: PyTorch column left out)');
  }
  const keys = [...new Set(columns.flatMap((c) => [...c.figures.keys()]))];
  const native = columns.find((c) => c.name === 'native');
  const torchColumn = columns.find((c) => c.name === 'PyTorch');
  console.log(`\n| measurement | unit | ${columns.map((c) => c.name).join(' | ')} |${native && torchColumn ? ' native / PyTorch |' : ''}`);
  console.log(`|---|---|${columns.map(() => '---|').join('')}${native && torchColumn ? '---|' : ''}`);
  for (const key of keys) {
    const cells = columns.map((c) => { const r = c.figures.get(key); return r ? fmt(r.value) : ''; });
    const unit = columns.map((c) => c.figures.get(key)?.unit).find((u) => u) ?? '';
    const n = native?.figures.get(key)?.value;
    const t = torchColumn?.figures.get(key)?.value;
    console.log(`| ${key} | ${unit} | ${cells.join(' | ')} |${native && torchColumn ? ` ${n && t ? `${(n / t).toFixed(1)}x` : ''} |` : ''}`);
  }
  await rm(dir, { recursive: true, force: true });
}

/** The rows here that a PyTorch key (pytorch_reference.py) measures. A function: it runs before the module's later consts exist. */
function torchRows(key: string): string[] {
  const ref = 'reference 14x14x2048, 512/512/512, V 9490: batch 32';
  if (key === 'train reference') return ['gather', 'oneHot·E'].map((e) => `train   ${ref}, embedding ${e}, 1 thread`);
  // The reference decodes one image at a time; ours decodes the batch of 32 together.
  if (key === 'beam4 reference') return [`caption ${ref}, beam 4, 16 steps`];
  if (key === 'greedy reference') return [`caption ${ref}, beam 1, 16 steps`];
  return [];
}


function torchPython(): string | undefined {
  for (const python of [process.env.CAPTIONER_TORCH_PYTHON, '/usr/bin/python3', 'python3']) {
    if (!python) continue;
    try {
      execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
      return python;
    } catch {
      // next candidate
    }
  }
  return undefined;
}

const info = await initBackend();
console.log(`backend: ${info.name} (tf backend '${info.tfBackend}'): ${info.description}`);
console.log(`runs: median of ${runs} (reference sizes: ${refRuns}) after one warm-up; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores; ${new Date().toISOString()}`);

const small = defaultModelConfig({ vocabSize: 32 });
const hasGatherGrad = tf.getKernel('UnsortedSegmentSum', tf.getBackend()) !== undefined;
if (!onlyReference) {
  for (const mode of ['gather', 'one-hot'] as const) {
    if (mode === 'gather' && !hasGatherGrad) continue;
    await benchTraining('default 64x64, 8x8x128, att 128, emb 96, dec 256, V 32', small, 32, 64, [5, 10], mode, runs);
  }
  // Data parallelism: the shipped model's recipe on one thread and on one thread per core.
  const recipe = defaultModelConfig({ ...DEFAULT_MODEL_RECIPE.train.model, encoder: { ...DEFAULT_MODEL_RECIPE.train.model.encoder, channels: [...DEFAULT_MODEL_RECIPE.train.model.encoder.channels], kernelSizes: [...DEFAULT_MODEL_RECIPE.train.model.encoder.kernelSizes] }, vocabSize: 52 });
  // Its phrase detector's phrases are chosen from the training captions; any 96 distinct pairs time the same.
  const phrases = Array.from({ length: DEFAULT_MODEL_RECIPE.train.phrases }, (_, i): [number, number] => [4 + (i % 12), 4 + Math.floor(i / 12)]);
  const withPhrases = { ...recipe, phrases };
  const { phraseDetection: _phraseDetection, ...withoutPhraseLoss } = DEFAULT_MODEL_RECIPE.train.trainer;
  for (const workers of [...new Set([1, os.availableParallelism()])]) {
    for (const b of workers === 1 ? recipeBatches : [32]) {
      await benchTraining('default-model recipe (4 blocks 32-128, coords, word and phrase detectors)', withPhrases, b, 64, [8, 16], 'one-hot', runs, workers, DEFAULT_MODEL_RECIPE.train.trainer);
    }
  }
  // What the phrase detector costs: the same recipe without it, one thread.
  await benchTraining('default-model recipe without the phrase detector', recipe, 32, 64, [8, 16], 'one-hot', runs, 1, withoutPhraseLoss);
  for (const k of [1, 4]) await benchCaptioning('default 64x64, V 32', small, 32, 64, k, 12, runs);
}

if (!skipReference) {
  const ref = referenceModelConfig(9490);
  for (const mode of ['gather', 'one-hot'] as const) {
    if (mode === 'gather' && !hasGatherGrad) continue;
    for (const workers of refWorkers) await benchTraining('reference 14x14x2048, 512/512/512, V 9490', ref, 32, 0, [8, 14], mode, refRuns, workers);
  }
  for (const k of [1, 4]) await benchCaptioning('reference 14x14x2048, 512/512/512, V 9490', ref, 32, 0, k, 16, refRuns);
}

if (jsonOut) await writeFile(jsonOut, JSON.stringify(records, null, 1) + '\n');
