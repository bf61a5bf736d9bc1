import { Command } from 'commander';
import { Subject } from 'rxjs';
import { trainPipeline, type TrainOptions } from '../../../pipelines/train.js';
import type { TrainEndEvent } from '../../../pipelines/train-events.js';
import { int, loadData, positive, setupBackend, withBackend, withData, type DataOptions } from '../options.js';
import { trainProgress } from '../train-progress.js';
import { UserError, action } from '../user-error.js';

interface TrainCliOptions extends DataOptions {
  out: string;
  resume?: boolean;
  epochs: number;
  batchSize: number;
  beamSize: number;
  patience: number;
  decayEvery: number;
  maxMinutes?: number;
  stepsPerEpoch?: number;
  valLimit?: number;
  imageSize: number;
  channels: string;
  attentionDim: number;
  embedDim: number;
  decoderDim: number;
  dropout: number;
  lr: number;
  encoderLr: number;
  minWordFreq: number;
  allCaptions?: boolean;
  seed: number;
  cache: boolean;
  backend?: string;
}

/** Parses --channels "16,32,64,64". */
function channelsOf(s: string): number[] {
  const xs = s.split(',').map((x) => Number(x.trim()));
  if (xs.length < 1 || xs.some((x) => !Number.isInteger(x) || x < 1)) throw new UserError(`--channels ${s}: expected comma-separated positive integers, e.g. 32,64,128,128`);
  return xs;
}

/** Maps CLI options onto the training pipeline's options (exported for the demo). */
export function trainOptionsOf(o: TrainCliOptions): Omit<TrainOptions, 'dataset'> {
  return {
    outDir: o.out, resume: Boolean(o.resume), epochs: o.epochs, batchSize: o.batchSize, beamSize: o.beamSize,
    patience: o.patience, decayEvery: o.decayEvery, maxMinutes: o.maxMinutes ?? Infinity,
    stepsPerEpoch: o.stepsPerEpoch ?? Infinity, valLimit: o.valLimit ?? Infinity, imageSize: o.imageSize,
    model: { encoder: { kind: 'compact-cnn', channels: channelsOf(o.channels) }, attentionDim: o.attentionDim, embedDim: o.embedDim, decoderDim: o.decoderDim, dropout: o.dropout },
    trainer: { decoderLr: o.lr, encoderLr: o.encoderLr }, minWordFreq: o.minWordFreq, maxLen: o.maxLen,
    captionSampling: o.allCaptions ? 'all' : 'one-random', seed: o.seed, cacheImages: o.cache ? 'auto' : false,
  };
}

/** Runs a training pipeline with progress output and Ctrl-C handling; resolves with the end event. */
export async function runTraining(options: TrainOptions): Promise<TrainEndEvent | undefined> {
  const stop$ = new Subject<void>();
  const progress = trainProgress();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      progress.stop();
      console.log('stopping after the current step; the epoch is validated and saved (Ctrl-C again to abort without saving)');
      stop$.next();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  try {
    let end: TrainEndEvent | undefined;
    await new Promise<void>((resolve, reject) => {
      trainPipeline({ ...options, stop$ }).subscribe({
        next: (e) => {
          progress.next(e);
          if (e.type === 'train.end') end = e;
        },
        error: reject,
        complete: resolve,
      });
    });
    return end;
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
  }
}

/** Adds the model size and training options shared by train and demo. */
export function withTrainOptions(cmd: Command, defaults: { epochs: number; batchSize: number }): Command {
  return cmd
    .option('--epochs <n>', 'epochs in total, counting those before --resume', int(1), defaults.epochs)
    .option('--batch-size <n>', 'images per optimizer step', int(1), defaults.batchSize)
    .option('--beam-size <k>', 'beam size of the per-epoch validation', int(1), 3)
    .option('--patience <n>', 'stop after this many epochs without validation BLEU-4 improvement', int(1), 20)
    .option('--decay-every <n>', 'multiply the learning rates by 0.8 after every n epochs without improvement', int(1), 8)
    .option('--max-minutes <m>', 'wall-clock limit; the epoch in progress is cut short, validated and saved', positive())
    .option('--steps-per-epoch <n>', 'cap on steps per epoch, for quick runs', int(1))
    .option('--val-limit <n>', 'validate on at most n val images', int(1))
    .option('--image-size <px>', 'input side of a new model', int(16), 64)
    .option('--channels <list>', 'conv block widths of the compact CNN encoder', '32,64,128,128')
    .option('--attention-dim <n>', 'attention size', int(1), 128)
    .option('--embed-dim <n>', 'word embedding size', int(1), 96)
    .option('--decoder-dim <n>', 'LSTM size', int(1), 256)
    .option('--dropout <p>', 'dropout before the output layer', positive(true), 0.5)
    .option('--lr <x>', 'decoder learning rate (Adam)', positive(), 4e-4)
    .option('--encoder-lr <x>', 'encoder learning rate (Adam)', positive(), 1e-4)
    .option('--min-word-freq <n>', 'keep words seen more often than this', int(0), 5)
    .option('--all-captions', 'train on every reference caption per epoch (default: one random caption per image)')
    .option('--seed <n>', 'seed of initialisation, shuffling and caption choice', int(0), 1)
    .option('--no-cache', 'do not keep decoded images in memory (default: cache when they fit in 512 MiB)');
}

/** `captioner train`. */
export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a Show, Attend and Tell model; writes OUT/best (best validation BLEU-4) and OUT/last (for --resume)')
    .requiredOption('--out <dir>', 'model directory to write')
    .option('--resume', 'continue the run saved in OUT/last');
  withData(cmd);
  withTrainOptions(cmd, { epochs: 120, batchSize: 32 });
  withBackend(cmd);
  return cmd.action(
    action('train', async (o: TrainCliOptions) => {
      const options = trainOptionsOf(o);
      await setupBackend(o.backend);
      const dataset = await loadData(o);
      const end = await runTraining({ ...options, dataset });
      if (end) console.log(`best model: ${end.bestDir}  (resume point: ${end.lastDir})`);
    }),
  );
}
