import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { checkCaption, generateSynthetic, loadKarpathy } from '../../data/index.js';
import { loadCaptioner } from '../../decoding/index.js';
import { modelDirOrDefault } from '../default-model.js';
import { exists, int, positive, setupBackend, withBackend } from '../options.js';
import { planStepWorkers, threadsFor } from '../../runtime/worker-entry.js';
import { action } from '../user-error.js';
import { captionFiles } from './caption.js';
import { runTraining } from './train.js';

interface DemoOptions {
  out: string;
  count: number;
  minutes: number;
  captions: number;
  seed: number;
  backend?: string;
  feedPort: number;
  feed: boolean;
  workers?: number;
}

/** Seed of the scenes the shipped model captions in the demo: never used to train or validate it. */
const FRESH_SCENES_SEED = 424242;

/**
 * `captioner demo`: the quick start. Captions fresh scenes with the shipped default model (checking
 * every claim against the scene), then shows training from scratch: synthesises a small data set,
 * trains a small model for a few minutes (continuing an earlier demo run when there is one), captions
 * a few test images and prints the captions and attention figures.
 */
export function demoCommand(): Command {
  const cmd = new Command('demo')
    .description('quick start: synthesise a small data set, train a small model for a few minutes, caption test images')
    .option('--out <dir>', 'working directory', 'demo-output')
    .option('--count <n>', 'synthetic images to generate', int(50), 1200)
    .option('--minutes <m>', 'training time budget', positive(), 3)
    .option('--captions <n>', 'test images to caption', int(1), 4)
    .option('--seed <n>', 'seed of the data set and the model', int(0), 1)
    .option('--feed-port <port>', 'port of the live training dashboard (a free one when the default is taken)', int(0), 8080)
    .option('--no-feed', 'train without the dashboard server')
    .option('--workers <n>', 'threads computing each training step (default: one per core on a CPU backend, one on a GPU)', int(1));
  withBackend(cmd);
  return cmd.action(
    action('demo', async (o: DemoOptions, command: Command) => {
      const t0 = performance.now();
      const out = resolve(o.out);
      planStepWorkers(o.workers, 'compact');
      const info = await setupBackend(o.backend);
      await captionWithDefaultModel(out, o.captions);
      const dataDir = join(out, 'data');
      const jsonPath = join(dataDir, 'dataset.json');
      if (await sameDataSet(jsonPath, o.count)) {
        console.log(`1/3 using the synthetic data set in ${dataDir}`);
      } else {
        console.log(`1/3 synthesising ${o.count} scenes into ${dataDir}`);
        await generateSynthetic({ outDir: dataDir, count: o.count, seed: o.seed });
      }
      const dataset = await loadKarpathy(jsonPath, join(dataDir, 'images'));
      const modelDir = join(out, 'model');
      const resume = await exists(join(modelDir, 'last', 'model.json'));
      console.log(`2/3 training for ${o.minutes} min${resume ? ' (continuing the previous demo run)' : ''} into ${modelDir}`);
      await runTraining({
        dataset, outDir: modelDir, resume, epochs: 10_000, maxMinutes: o.minutes, batchSize: 32, beamSize: 1, valLimit: 60,
        patience: 10_000, seed: o.seed, workers: o.workers ?? threadsFor(info, 'compact'),
        // A small model with a high learning rate: in test/pipelines/learning.test.ts it reaches test
        // BLEU-4 ~0.27 in 60 steps of 32 (about a minute on one wasm thread).
        model: { encoder: { kind: 'compact-cnn', channels: [16, 32, 64, 64] }, attentionDim: 64, embedDim: 48, decoderDim: 128, dropout: 0.2 },
        trainer: { decoderLr: 3e-3, encoderLr: 1.5e-3 },
      }, o.feed ? { port: o.feedPort, host: '127.0.0.1', backend: info.name, fallback: command.getOptionValueSource('feedPort') === 'default' } : undefined);
      const captionsDir = join(out, 'captions');
      console.log(`3/3 captioning ${o.captions} test images into ${captionsDir}`);
      const test = dataset.images.filter((im) => im.split === 'test').slice(0, o.captions);
      const captioner = await loadCaptioner(join(modelDir, 'best'));
      try {
        const results = await captionFiles(captioner, test.map((im) => im.path), captionsDir, { beamSize: 3, maxSteps: 30, figure: true, alternatives: 1 });
        results.forEach((r, i) => {
          console.log(`  ${r.image}`);
          console.log(`    model:     ${r.caption}`);
          console.log(`    reference: ${test[i]!.captions[0]!.join(' ')}`);
          console.log(`    attention: ${r.figure}`);
        });
      } finally {
        captioner.dispose();
      }
      console.log(`done in ${((performance.now() - t0) / 60_000).toFixed(1)} min; run it again to train longer, or see \`captioner eval --model ${o.out}/model --data ${o.out}/data\``);
    }),
  );
}

/** Step 0: the shipped model on scenes it has never seen; skipped (with a note) when none is installed. */
async function captionWithDefaultModel(out: string, count: number): Promise<void> {
  let dir: string;
  try {
    dir = await modelDirOrDefault(undefined);
  } catch {
    console.log('0/3 no default model installed (models/default): skipping straight to training one');
    return;
  }
  const fresh = await generateSynthetic({ outDir: join(out, 'fresh-scenes'), count, seed: FRESH_SCENES_SEED });
  const scenes = (await loadKarpathy(fresh.jsonPath, fresh.imageDir)).images;
  const captioner = await loadCaptioner(dir);
  try {
    console.log(`0/3 the shipped default model (${dir}, id ${captioner.modelId}) on ${scenes.length} scenes it never saw:`);
    const results = await captionFiles(captioner, scenes.map((im) => im.path), join(out, 'default-model-captions'), { beamSize: 4, maxSteps: 30, figure: true, alternatives: 1 });
    results.forEach((r, i) => {
      const verdict = checkCaption(r.caption.split(' '), scenes[i]!.objects ?? [], scenes[i]!.width ?? 64);
      console.log(`  ${r.image}`);
      console.log(`    model:     ${r.caption}   (${verdict.correct ? 'every claim true of the scene' : `wrong: ${verdict.errors.join('; ')}`})`);
      console.log(`    attention: ${r.figure}`);
    });
  } finally {
    captioner.dispose();
  }
}

/** True when jsonPath holds a data set of `count` images (a previous demo's), so it is reused. */
async function sameDataSet(jsonPath: string, count: number): Promise<boolean> {
  if (!(await exists(jsonPath))) return false;
  try {
    const j = JSON.parse(await readFile(jsonPath, 'utf8')) as { images?: unknown[] };
    return Array.isArray(j.images) && j.images.length === count;
  } catch {
    return false;
  }
}
