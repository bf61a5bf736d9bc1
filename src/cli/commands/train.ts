import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { ModelConfig } from '../../model/index.js';
import { RESNET_DEPTHS, resnetOutputDim } from '../../model/resnet-encoder.js';
import { Subject, lastValueFrom, defaultIfEmpty, tap } from 'rxjs';
import { FeedServer } from '../../sinks/feed-server.js';
import { modelScale, planStepWorkers, threadsFor } from '../../runtime/worker-entry.js';
import { ANNEAL_GROUPS, trainPipeline, type AnnealGroups, type TrainOptions } from '../../../pipelines/train.js';
import { toTrainFeed } from '../../../pipelines/train-feed.js';
import type { TrainEndEvent, TrainEvent } from '../../../pipelines/train-events.js';
import { atLeast, int, loadData, positive, probability, setupBackend, withBackend, withData, type DataOptions } from '../options.js';
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
  maxSteps?: number;
  stepsPerEpoch?: number;
  valLimit?: number;
  imageSize: number;
  channels: string;
  encoderPath?: string;
  encoder?: string;
  encoderWeights?: string;
  fineTuneEncoder?: boolean;
  encoderOutput?: string;
  encoderDim?: number;
  gridSize?: number;
  fineTune?: boolean;
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
  attention: 'relu' | 'tanh';
  kernelSizes?: string;
  coordChannels?: boolean;
  contextChannels?: number;
  alphaC: number;
  attentionEntropy: number;
  wordDetection: number;
  attentionGuidance: number;
  guidanceSharpness: number;
  phraseDetection: number;
  phrases: number;
  averageDecay: number;
  deepOutput?: boolean;
  attentionMemory?: boolean;
  initState: 'mean' | 'bias';
  clipValue: number;
  clipNorm: number;
  scheduledSampling: number;
  backend?: string;
  feedPort: number;
  feed: boolean;
  checkpointEvery?: number;
  feedHost: string;
  workers?: number;
  annealMinutes?: number;
  annealSteps?: number;
  annealFloor: number;
  annealGroups: AnnealGroups;
}

/** Parses a list option such as --channels "16,32,64,64". */
function intListOf(option: string, s: string, example: string): number[] {
  const xs = s.split(',').map((x) => Number(x.trim()));
  if (xs.length < 1 || xs.some((x) => !Number.isInteger(x) || x < 1)) throw new UserError(`${option} ${s}: expected comma-separated positive integers, e.g. ${example}`);
  return xs;
}

/** The encoder and its feature grid from the options: the compact CNN, or a pretrained backbone on disk. */
function encoderOf(o: TrainCliOptions): Pick<ModelConfig, 'encoder'> & Partial<Pick<ModelConfig, 'encoderDim' | 'gridSize'>> {
  const grid = o.gridSize === undefined ? {} : { gridSize: o.gridSize };
  if (o.encoder !== undefined || o.encoderWeights !== undefined) return resnetEncoderOf(o);
  if (o.fineTuneEncoder) throw new UserError('--fine-tune-encoder applies to a ResNet encoder: add --encoder resnetN --encoder-weights FILE');
  if (o.encoderPath === undefined) {
    if (o.encoderOutput !== undefined || o.fineTune) throw new UserError('--encoder-output and --fine-tune apply to a pretrained backbone: add --encoder-path DIR');
    const encoder = {
      kind: 'compact-cnn' as const,
      channels: intListOf('--channels', o.channels, '32,64,128,128'),
      ...(o.kernelSizes === undefined ? {} : { kernelSizes: intListOf('--kernel-sizes', o.kernelSizes, '3,3,1,1') }),
      ...(o.contextChannels ? { contextChannels: o.contextChannels } : {}),
      ...(o.coordChannels ? { coordChannels: true } : {}),
    };
    return { encoder, ...grid, ...(o.encoderDim === undefined ? {} : { encoderDim: o.encoderDim }) };
  }
  if (o.encoderOutput === undefined) throw new UserError(`--encoder-path ${o.encoderPath}: also pass --encoder-output NAME, the layer or node whose output is the feature grid`);
  if (o.encoderDim === undefined) throw new UserError(`--encoder-path ${o.encoderPath}: also pass --encoder-dim N, the channel count of ${o.encoderOutput}`);
  return { encoder: { kind: 'external', path: resolve(o.encoderPath), featureOutput: o.encoderOutput, fineTune: Boolean(o.fineTune) }, encoderDim: o.encoderDim, ...grid };
}

/** --encoder resnet18|34|50|101|152 with --encoder-weights FILE: torchvision's ResNet, frozen unless --fine-tune-encoder. */
function resnetEncoderOf(o: TrainCliOptions): Pick<ModelConfig, 'encoder' | 'encoderDim' | 'gridSize'> {
  const depth = /^resnet(\d+)$/.exec(o.encoder ?? '')?.[1];
  const arch = depth === undefined ? undefined : RESNET_DEPTHS[Number(depth)];
  if (!arch) throw new UserError(`--encoder ${String(o.encoder)}: expected resnet18, resnet34, resnet50, resnet101 or resnet152`);
  if (o.encoderWeights === undefined) throw new UserError(`--encoder ${o.encoder}: also pass --encoder-weights FILE (torchvision's resnet${depth}-*.pth, or a checkpoint with encoder.resnet.*)`);
  if (o.encoderPath !== undefined) throw new UserError('--encoder and --encoder-path are two encoders: pass one');
  return { encoder: { kind: 'resnet', ...arch, fineTune: Boolean(o.fineTuneEncoder || o.fineTune) }, encoderDim: resnetOutputDim(arch), gridSize: o.gridSize ?? 14 };
}

/** Maps CLI options onto the training pipeline's options (exported for the demo). */
export function trainOptionsOf(o: TrainCliOptions): Omit<TrainOptions, 'dataset'> {
  if (o.attentionGuidance > 0 && !(o.wordDetection > 0)) throw new UserError('--attention-guidance learns from the word detector: add --word-detection W');
  if (o.phraseDetection > 0 && !(o.wordDetection > 0)) throw new UserError('--phrase-detection works beside the word detector: add --word-detection W');
  if (o.annealMinutes !== undefined && o.annealSteps !== undefined) throw new UserError('--anneal-minutes and --anneal-steps are two clocks for one anneal: pass one');
  const anneal = o.annealMinutes !== undefined ? { annealMinutes: o.annealMinutes } : o.annealSteps !== undefined ? { annealSteps: o.annealSteps } : undefined;
  if (!anneal && o.annealGroups !== 'both') throw new UserError(`--anneal-groups ${o.annealGroups} shapes an anneal: add --anneal-minutes M or --anneal-steps N`);
  return {
    ...(o.encoderWeights === undefined ? {} : { encoderWeights: resolve(o.encoderWeights) }),
    outDir: o.out, resume: Boolean(o.resume), epochs: o.epochs, batchSize: o.batchSize, beamSize: o.beamSize,
    patience: o.patience, decayEvery: o.decayEvery, maxMinutes: o.maxMinutes ?? Infinity, maxSteps: o.maxSteps ?? Infinity,
    stepsPerEpoch: o.stepsPerEpoch ?? Infinity, valLimit: o.valLimit ?? Infinity, imageSize: o.encoder !== undefined && o.imageSize === 64 ? 256 : o.imageSize,
    model: { ...encoderOf(o), attentionDim: o.attentionDim, embedDim: o.embedDim, decoderDim: o.decoderDim, dropout: o.dropout, attentionActivation: o.attention, initState: o.initState, ...(o.wordDetection > 0 ? { wordDetector: true } : {}), ...(o.deepOutput ? { deepOutput: true } : {}), ...(o.attentionMemory ? { attentionMemory: true } : {}) },
    trainer: {
      decoderLr: o.lr, encoderLr: o.encoderLr, alphaC: o.alphaC, attentionEntropy: o.attentionEntropy, wordDetection: o.wordDetection, attentionGuidance: o.attentionGuidance, guidanceSharpness: o.guidanceSharpness, phraseDetection: o.phraseDetection, averageDecay: o.averageDecay, clipValue: o.clipValue, clipNorm: o.clipNorm, scheduledSampling: o.scheduledSampling,
    },
    ...(o.phraseDetection > 0 ? { phrases: o.phrases } : {}),
    minWordFreq: o.minWordFreq, maxLen: o.maxLen,
    captionSampling: o.allCaptions ? 'all' : 'one-random', seed: o.seed, cacheImages: o.cache ? 'auto' : false,
    checkpointEverySteps: o.checkpointEvery,
    ...(anneal ? { ...anneal, annealFloor: o.annealFloor, annealGroups: o.annealGroups } : {}),
  };
}

/**
 * Runs a training pipeline with progress output and Ctrl-C handling; resolves with the end event.
 * With `feed`, also serves the dashboard and publishes the run's step/validation/end messages.
 */
export async function runTraining(options: TrainOptions, feed?: { port: number; host: string; backend: string; fallback?: boolean }): Promise<TrainEndEvent | undefined> {
  const stop$ = new Subject<void>();
  const events = new Subject<TrainEvent>();
  let server: FeedServer | undefined;
  let published: Promise<unknown> = Promise.resolve();
  if (feed) {
    server = await FeedServer.start({ port: feed.port, fallbackToFreePort: feed.fallback, host: feed.host, hello: { server: 'captioner train', mode: 'train', backend: feed.backend, modelId: 'training' } });
    console.log(`dashboard: ${server.address().url}/`);
    const s = server;
    published = lastValueFrom(events.pipe(toTrainFeed(), tap((m) => s.publish(m)), defaultIfEmpty(undefined)));
  }
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
  // SIGTERM (a service manager, `kill`) deserves the same graceful stop as Ctrl-C: save, then exit.
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    let end: TrainEndEvent | undefined;
    await new Promise<void>((resolve, reject) => {
      trainPipeline({ ...options, stop$ }).subscribe({
        next: (e) => {
          progress.next(e);
          events.next(e);
          if (e.type === 'train.end') end = e;
        },
        error: reject,
        complete: resolve,
      });
    });
    events.complete();
    await published;
    return end;
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    await server?.close();
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
    .option('--anneal-minutes <m>', 'cosine-anneal the learning rates over this many minutes of training (set it to --max-minutes to end a timed run on small steps)', positive())
    .option('--anneal-steps <n>', 'the same anneal over this many optimizer steps (counted across resumes; set it to --max-steps for a run that ends alike on any machine)', int(1))
    .option('--anneal-floor <x>', 'learning-rate multiplier the anneal ends at', probability(), 0.05)
    .addOption(new Option('--anneal-groups <which>', 'which learning rates the anneal lowers').choices(ANNEAL_GROUPS).default('both'))
    .option('--max-minutes <m>', 'wall-clock limit; the epoch in progress is cut short, validated and saved', positive())
    .option('--max-steps <n>', 'limit on optimizer steps in total (counting those before --resume); the epoch in progress is cut short at it, validated and saved', int(1))
    .option('--steps-per-epoch <n>', 'cap on steps per epoch, for quick runs', int(1))
    .option('--val-limit <n>', 'validate on at most n val images', int(1))
    .option('--image-size <px>', 'input side of a new model', int(16), 64)
    .option('--channels <list>', 'conv block widths of the compact CNN encoder', '32,64,128,128')
    .option('--kernel-sizes <list>', 'odd kernel size per conv block (default 3 each); 1 at coarse blocks keeps receptive fields local')
    .option('--coord-channels', 'append each grid cell\'s (x, y) to its annotation vector')
    .option('--context-channels <n>', 'append N channels of a 3x3 conv over the final grid to each cell: a wider view beside the cell\'s own features', int(1))
    .option('--encoder <name>', 'torchvision ResNet encoder: resnet18, resnet34, resnet50, resnet101 or resnet152 (with --encoder-weights; images 256 px instead of the default 64, and a 14x14 grid, as the reference, unless --image-size / --grid-size say otherwise)')
    .option('--encoder-weights <file>', 'with --encoder: its weights, a PyTorch file (torchvision resnetN-*.pth or a checkpoint holding encoder.resnet.*)')
    .option('--fine-tune-encoder', 'with --encoder: train ResNet stages 2-4 too (at --encoder-lr), as the reference\'s --fine_tune_encoder; frozen by default')
    .option('--encoder-path <dir>', 'use a pretrained backbone instead: a local tfjs LayersModel or GraphModel directory (model.json + shards)')
    .option('--encoder-output <name>', 'with --encoder-path: the layer or node whose output is the feature grid')
    .option('--encoder-dim <n>', 'channels of each annotation vector (with --encoder-path: of --encoder-output)', int(1))
    .option('--grid-size <n>', 'side of the feature grid after adaptive average pooling (default 8)', int(1))
    .option('--fine-tune', 'with --encoder-path: train the backbone too, at --encoder-lr')
    .option('--attention-dim <n>', 'attention size', int(1), 128)
    .option('--embed-dim <n>', 'word embedding size', int(1), 96)
    .option('--decoder-dim <n>', 'LSTM size', int(1), 256)
    .option('--dropout <p>', 'dropout before the output layer', probability(false), 0.5)
    .addOption(new Option('--attention <fn>', 'attention nonlinearity: relu (the tutorial) or tanh (the paper)').choices(['relu', 'tanh']).default('relu'))
    .option('--alpha-c <x>', 'weight of the doubly stochastic attention penalty', positive(true), 1)
    .option('--attention-entropy <x>', 'weight of an attention-entropy penalty (peaked maps that move between objects); 0 disables', positive(true), 0)
    .option('--word-detection <x>', 'weight of a word-detector loss: each grid cell learns to recognise the words its region shows, from the captions alone (training only); 0 disables', positive(true), 0)
    .option('--attention-guidance <x>', "weight of detector-guided attention: the word detector's map for each word is a teacher for the attention that predicts it (needs --word-detection); 0 disables", positive(true), 0)
    .option('--phrase-detection <x>', 'weight of a phrase-detector loss beside the word detector: each cell learns two-word phrases of the captions ("red circle"), so colours are bound to shapes; it also re-ranks the beams (needs --word-detection); 0 disables', positive(true), 0)
    .option('--phrases <n>', 'with --phrase-detection: how many of the commonest two-word phrases of the training captions it learns', int(1), 96)
    .option('--guidance-sharpness <k>', "exponent of the guidance teacher (the detector's map raised to k, renormalised): above 1 it teaches attention the object's own cell rather than the cells beside it", atLeast(1), 1)
    .option('--average-decay <d>', 'decay of an exponential moving average of the weights (Polyak averaging), e.g. 0.999: validation and checkpoints use the average; 0 disables', probability(false), 0)
    .option('--deep-output', "Xu et al.'s deep output: the word logits also read the attended context directly (the reference code omits it)")
    .option('--attention-memory', 'attention also reads where it looked at the previous word and in total so far (location-aware attention with coverage), so it can stay on an object and move on to the next')
    .addOption(new Option('--init-state <how>', 'LSTM start: mean (Linear of the mean annotation, the reference) or bias (learned constants)').choices(['mean', 'bias']).default('mean'))
    .option('--clip-value <x>', 'clip each gradient element to [-x, x]; 0 disables', positive(true), 5)
    .option('--clip-norm <x>', 'also clip the global gradient norm to x; 0 disables', positive(true), 0)
    .option('--scheduled-sampling <p>', 'probability of feeding the model its own previous word instead of the reference', probability(), 0)
    .option('--lr <x>', 'decoder learning rate (Adam)', positive(), 4e-4)
    .option('--encoder-lr <x>', 'encoder learning rate (Adam)', positive(), 1e-4)
    .option('--min-word-freq <n>', 'keep words seen more often than this', int(0), 5)
    .option('--all-captions', 'train on every reference caption per epoch (default: one random caption per image)')
    .option('--seed <n>', 'seed of initialisation, shuffling and caption choice', int(0), 1)
    .option('--no-cache', 'do not keep decoded images in memory (default: cache when they fit in 512 MiB)')
    .option('--workers <n>', 'threads computing each step: worker threads with model replicas take shards of every batch (default: one per core on wasm and cpu; on native one per core for the compact CNN, one for a larger encoder; one on a GPU)', int(1));
}

/** `captioner train`. */
export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a Show, Attend and Tell model; writes OUT/best (best validation BLEU-4) and OUT/last (for --resume)')
    .requiredOption('--out <dir>', 'model directory to write')
    .option('--resume', 'continue the run saved in OUT/last')
    .option('--checkpoint-every <steps>', 'also save OUT/last every n steps within an epoch (a killed run then loses at most n steps)', int(1))
    .option('--feed-port <port>', 'port of the live training dashboard (0 picks a free one; when the default is taken a free one is used)', int(0), 8080)
    .option('--no-feed', 'train without the dashboard server')
    .option('--feed-host <host>', 'interface of the dashboard server', '127.0.0.1');
  withData(cmd);
  withTrainOptions(cmd, { epochs: 120, batchSize: 32 });
  withBackend(cmd);
  return cmd.action(
    action('train', async (o: TrainCliOptions, command: Command) => {
      const scale = modelScale(encoderOf(o));
      planStepWorkers(o.workers, scale);
      const info = await setupBackend(o.backend);
      const options = { ...trainOptionsOf(o), workers: o.workers ?? threadsFor(info, scale) };
      const dataset = await loadData(o);
      const feed = o.feed ? { port: o.feedPort, host: o.feedHost, backend: info.name, fallback: command.getOptionValueSource('feedPort') === 'default' } : undefined;
      const end = await runTraining({ ...options, dataset }, feed);
      if (!end) return;
      console.log(`best model: ${end.bestDir}  (resume point: ${end.lastDir})`);
    }),
  );
}
