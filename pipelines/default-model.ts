/**
 * Reproduces the shipped default model from scratch with the project's own pipelines: synthesises the
 * training data set, trains with the training pipeline, and installs the best checkpoint (weights,
 * vocabulary, preprocessing, config; no optimizer state) into --install.
 *
 * Run: npx tsx pipelines/default-model.ts [--install models/default] [--work DIR] [--minutes 30] [--resume]
 *        [--checkpoint best|last]
 * (--resume continues the run in --work for another --minutes, as `captioner train --resume`).
 * Everything that defines the model is in DEFAULT_MODEL_RECIPE below; models/default/README.md says
 * why each choice was made and what it measured.
 */
import { cp, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { generateSynthetic, loadKarpathy } from '../src/data/index.js';
import { describeEvent } from '../src/cli/train-progress.js';
import { packageRoot } from '../src/cli/package-root.js';
import type { TrainOptions } from './train.js';
import { trainPipeline } from './train.js';

/** The data set, model and training settings of the default model. */
export const DEFAULT_MODEL_RECIPE = {
  /** Training/validation data: 80% / 10% of the scenes of this seed (the 10% test split is not used). */
  data: { seed: 11, count: 3750, imageSize: 64 },
  train: {
    seed: 1,
    batchSize: 32,
    beamSize: 1,
    valLimit: 150,
    epochs: 1000,
    patience: 1000,
    decayEvery: 1000,
    imageSize: 64,
    minWordFreq: 5,
    model: {
      // 3x3 convs only at full and half resolution, 1x1 after: a grid cell sees about its own
      // 8x8-pixel patch plus a margin, so naming an object's shape or colour needs attention on it.
      // Coordinate channels let position and relation words be decided from where attention looks.
      encoder: { kind: 'compact-cnn', channels: [32, 64, 128, 128], kernelSizes: [3, 3, 3, 1], coordChannels: true },
      gridSize: 8,
      attentionDim: 128,
      embedDim: 96,
      decoderDim: 256,
      dropout: 0.2,
      attentionActivation: 'relu',
      // The LSTM starts from learned biases: with the reference's projection of the mean annotation
      // the decoder knows every object before it looks, and attention drifts off what it names.
      initState: 'bias',
    },
    // alphaC 0: the doubly stochastic term asks every cell to be attended about once per caption,
    // which pulls attention off the objects onto the background. (attentionEntropy 0.1 kept colour
    // words' attention on their objects better in a 20-minute run; see models/default/README.md.)
    trainer: { decoderLr: 1.5e-3, encoderLr: 1e-3, alphaC: 0 },
  } satisfies Omit<TrainOptions, 'dataset' | 'outDir'>,
  /** Wall-clock budget of the training run. */
  minutes: 30,
} as const;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const install = resolve(arg('install', join(packageRoot(), 'models', 'default')));
const work = resolve(arg('work', join(tmpdir(), 'captioner-default-model')));
const minutes = Number(arg('minutes', String(DEFAULT_MODEL_RECIPE.minutes)));
const resume = process.argv.includes('--resume');
// best/ (best validation BLEU-4, 150 val images at beam 1: noisy) or last/ (the end of the run).
const checkpoint = arg('checkpoint', 'best');
if (checkpoint !== 'best' && checkpoint !== 'last') throw new RangeError(`--checkpoint ${checkpoint}: expected best or last`);
const r = DEFAULT_MODEL_RECIPE;

const backend = await initBackend();
console.log(`backend: ${backend.name} (${backend.description})`);
const t0 = performance.now();
const dataDir = join(work, 'data');
if (!resume) await generateSynthetic({ outDir: dataDir, ...r.data });
const dataset = await loadKarpathy(join(dataDir, 'dataset.json'), join(dataDir, 'images'));
console.log(`synthesised ${r.data.count} scenes (seed ${r.data.seed}) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
const runDir = join(work, 'run');
if (!resume) await rm(runDir, { recursive: true, force: true });
const tTrain = performance.now();
await new Promise<void>((done, fail) => {
  trainPipeline({ ...r.train, model: { ...r.train.model, encoder: { ...r.train.model.encoder, kernelSizes: [...r.train.model.encoder.kernelSizes], channels: [...r.train.model.encoder.channels] } }, dataset, outDir: runDir, resume, maxMinutes: minutes }).subscribe({
    next: (e) => {
      const line = e.type === 'train.step' ? undefined : describeEvent(e);
      if (line) console.log(line);
    },
    error: fail,
    complete: done,
  });
});
const trainMinutes = (performance.now() - tTrain) / 60_000;
// Install the best checkpoint without optimizer state: only what captioning needs. README.md and
// examples/ in the install directory are kept.
await mkdir(install, { recursive: true });
for (const f of await readdir(join(runDir, checkpoint))) {
  if (f.startsWith('trainer.')) continue;
  await cp(join(runDir, checkpoint, f), join(install, `${f}.tmp`));
  await rename(join(install, `${f}.tmp`), join(install, f));
}
console.log(`trained for ${trainMinutes.toFixed(1)} min (total ${((performance.now() - t0) / 60_000).toFixed(1)} min); installed ${checkpoint}/ as ${install}`);
