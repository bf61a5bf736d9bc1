/**
 * Trains the default model from scratch with the project's own pipelines: synthesises the training
 * data set, trains with the training pipeline (DEFAULT_MODEL_RECIPE in default-model-recipe.ts: the
 * word and phrase detectors with detector-guided attention, Fang et al. 2015), installs the final
 * checkpoint (weights, vocabulary, preprocessing, config; no optimizer state) into --install, then
 * fine-tunes it self-critically (Rennie et al. 2017; pipelines/self-critical.ts) and installs the
 * fine-tuned model. Every option is one a user training on real data would set the same way.
 *
 * Run: npx tsx pipelines/default-model.ts [--install DIR] [--work DIR] [--minutes M | --steps N] [--resume]
 *        [--checkpoint best|last] [--workers N] [--finetune-steps N] [--finetune-only] [--scenes N]
 */
import { cp, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/backend/index.js';
import { generateSynthetic, loadKarpathy } from '../src/data/index.js';
import { logEvents } from './log-events.js';
import type { TrainEvent } from './train-events.js';
import { planStepWorkers, threadsFor } from '../src/runtime/worker-entry.js';
import { DEFAULT_MODEL_RECIPE } from './default-model-recipe.js';
import { trainPipeline } from './train.js';
import { selfCriticalTrain, type SelfCriticalEvent } from './self-critical.js';

const r = DEFAULT_MODEL_RECIPE;
const USAGE = `usage: npx tsx pipelines/default-model.ts [--install DIR] [--work DIR] [--minutes M | --steps N] [--resume]
       [--checkpoint best|last] [--workers N] [--finetune-steps N] [--finetune-only] [--scenes N]
Trains the default model from scratch and installs it into --install (default: a new directory
models/default-retrained, so the shipped model is not replaced unless asked). --minutes M (default ${r.minutes})
bounds the training run by wall time; --steps N by optimizer steps (the anneal follows the same budget).
--finetune-steps N (default ${r.finetune.maxSteps}; 0: none) bounds the self-critical fine-tuning;
--finetune-only fine-tunes the model already in --install. --scenes N (default ${r.data.count}) synthesises
N scenes of seed ${r.data.seed} to train on (80% train, 10% val). --workers N: threads per step
(default: one per core on a CPU backend, each with one TensorFlow thread on native).`;

// strict: an unknown or misspelt flag (or --help) must not fall through to a long run.
const { values: args } = parseArgs({
  options: {
    install: { type: 'string', default: join(process.cwd(), 'models', 'default-retrained') },
    work: { type: 'string', default: join(tmpdir(), 'captioner-default-model') },
    minutes: { type: 'string' },
    steps: { type: 'string' },
    resume: { type: 'boolean', default: false },
    // last/ (the end of the run) or best/ (best validation BLEU-4 on valLimit images at beam 1: noisy).
    checkpoint: { type: 'string', default: 'last' },
    workers: { type: 'string' },
    'finetune-steps': { type: 'string' },
    'finetune-only': { type: 'boolean', default: false },
    scenes: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const install = resolve(args.install);
const work = resolve(args.work);
if (args.minutes !== undefined && args.steps !== undefined) throw new RangeError('--minutes and --steps are two budgets for one run: pass one');
const steps = args.steps === undefined ? undefined : Number(args.steps);
if (steps !== undefined && !(Number.isInteger(steps) && steps > 0)) throw new RangeError(`--steps ${args.steps}: expected a positive integer`);
const minutes = Number(args.minutes ?? r.minutes);
if (!(minutes > 0)) throw new RangeError(`--minutes ${args.minutes}: expected a positive number`);
const budget = steps !== undefined ? { maxSteps: steps, annealSteps: steps } : { maxMinutes: minutes, annealMinutes: minutes };
const { resume, checkpoint } = args;
if (checkpoint !== 'best' && checkpoint !== 'last') throw new RangeError(`--checkpoint ${checkpoint}: expected best or last`);
const finetuneSteps = Number(args['finetune-steps'] ?? r.finetune.maxSteps);
if (!(Number.isInteger(finetuneSteps) && finetuneSteps >= 0)) throw new RangeError(`--finetune-steps ${args['finetune-steps']}: expected an integer >= 0`);
const finetuneOnly = args['finetune-only'];
if (finetuneOnly && (resume || finetuneSteps === 0)) throw new RangeError('--finetune-only fine-tunes the installed model: it takes neither --resume nor --finetune-steps 0');
const scenes = Number(args.scenes ?? r.data.count);
if (!(Number.isInteger(scenes) && scenes >= 100)) throw new RangeError(`--scenes ${args.scenes}: expected an integer >= 100`);
const data = { ...r.data, count: scenes };

const requestedWorkers = args.workers === undefined ? undefined : Number(args.workers);
if (requestedWorkers !== undefined && !(Number.isInteger(requestedWorkers) && requestedWorkers >= 1)) throw new RangeError(`--workers ${args.workers}: expected a positive integer`);
planStepWorkers(requestedWorkers, 'compact');
const backend = await initBackend();
const workers = requestedWorkers ?? threadsFor(backend, 'compact');
console.log(`backend: ${backend.name} (${backend.description}); ${workers} thread(s) per step`);
const t0 = performance.now();
const dataDir = join(work, 'data');
// Synthesis is deterministic by seed and count: a --work that has this data set reuses it.
const haveData = await stat(join(dataDir, 'dataset.json')).then(() => true, () => false);
if (!resume && !(finetuneOnly && haveData)) await generateSynthetic({ outDir: dataDir, ...data });
const dataset = await loadKarpathy(join(dataDir, 'dataset.json'), join(dataDir, 'images'));
console.log(`synthesised ${data.count} scenes (seed ${data.seed}) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
let trainMinutes = 0;
if (!finetuneOnly) {
  const runDir = join(work, 'run');
  if (!resume) await rm(runDir, { recursive: true, force: true });
  const tTrain = performance.now();
  const model = { ...r.train.model, encoder: { ...r.train.model.encoder, kernelSizes: [...r.train.model.encoder.kernelSizes], channels: [...r.train.model.encoder.channels] } };
  await logEvents(trainPipeline({ ...r.train, model, dataset, outDir: runDir, resume, ...budget, workers }), describeTraining);
  trainMinutes = (performance.now() - tTrain) / 60_000;
  await installCheckpoint(join(runDir, checkpoint));
}
let finetuneMinutes = 0;
if (finetuneSteps > 0) {
  const tuned = join(work, 'finetuned');
  await rm(tuned, { recursive: true, force: true });
  const tTune = performance.now();
  await logEvents(selfCriticalTrain({ ...r.finetune, maxSteps: finetuneSteps, threads: workers, modelDir: install, outDir: tuned, dataset }), describeFinetuning);
  finetuneMinutes = (performance.now() - tTune) / 60_000;
  await installCheckpoint(tuned);
}
console.log(
  `trained for ${trainMinutes.toFixed(1)} min, fine-tuned for ${finetuneMinutes.toFixed(1)} min (total ${((performance.now() - t0) / 60_000).toFixed(1)} min); installed ${finetuneSteps > 0 ? 'the fine-tuned model' : `${checkpoint}/`} as ${install}`,
);

/**
 * Installs a checkpoint without optimizer state: only what captioning needs, file by file through a
 * temporary name. Other files in the install directory (a README, examples/) are kept.
 */
async function installCheckpoint(from: string): Promise<void> {
  await mkdir(install, { recursive: true });
  for (const f of await readdir(from)) {
    if (f.startsWith('trainer.')) continue;
    await cp(join(from, f), join(install, `${f}.tmp`));
    await rename(join(install, `${f}.tmp`), join(install, f));
  }
}

/** A fraction as a percentage with two decimals. */
function pct(x: number): string {
  return (100 * x).toFixed(2);
}

/** A log line for the milestones of training (validation and the end). */
function describeTraining(e: TrainEvent): string | undefined {
  if (e.type === 'train.validation') return `epoch ${e.epoch + 1} validation: BLEU-4 ${pct(e.bleu[3] ?? 0)}${e.grounding ? `, content ${pct(e.grounding.contentAccuracy)}, attention hits ${pct(e.grounding.hitRate)}` : ''}`;
  if (e.type === 'train.end') return `training ${e.reason} after ${e.steps} steps; best BLEU-4 ${pct(e.bestBleu4)}`;
  return undefined;
}

/** A log line for fine-tuning's validations and its end. */
function describeFinetuning(e: SelfCriticalEvent): string | undefined {
  if (e.kind === 'validation') return `fine-tuning step ${e.step} validation: BLEU-4 ${pct(e.bleu4)}`;
  if (e.kind === 'done') return `fine-tuning stopped (${e.reason}) after ${e.steps} steps; validation BLEU-4 ${pct(e.initialBleu4)} -> ${pct(e.bestBleu4)}`;
  return undefined;
}
