import { rmSync } from 'node:fs';
import { access, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { BACKEND_ENV_VAR, BACKEND_REQUESTS, initBackend, type BackendInfo, type BackendRequest } from '../backend/index.js';
import { loadKarpathy, type KarpathyDataset } from '../data/index.js';
import { KafkaConfigError } from '../kafka/errors.js';
import { createKafkajsClient } from '../kafka/kafkajs-client.js';
import { parseBrokerList, resolveKafkaOptions } from '../kafka/options.js';
import { loadKafkaDataset } from '../kafka/training-examples.js';
import { UserError } from './user-error.js';

/** commander parser: an integer >= min. */
export function int(min = 1): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}

/** commander parser: a number > 0 (or >= 0 when zero is allowed). */
export function positive(allowZero = false): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new InvalidArgumentError(`expected a number ${allowZero ? '>= 0' : '> 0'}`);
    return n;
  };
}

/** Help of --detector-rerank, shared by the commands that decode. */
export const RERANK_HELP = 'weight of the word detector in ranking the finished beams (0: off, the reference; default: 1 for models trained with a word detector, like the default model)';

/** commander parser: a finite number >= min. */
export function atLeast(min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number >= ${min}`);
    return n;
  };
}

/** commander parser: a probability in [0, 1], or [0, 1) when one is not allowed (dropout). */
export function probability(allowOne = true): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1 || (!allowOne && n === 1)) {
      throw new InvalidArgumentError(`expected a number in [0, 1${allowOne ? ']' : ')'}`);
    }
    return n;
  };
}

/** Adds --backend (choices, default from CAPTIONER_BACKEND, else auto). */
export function withBackend(cmd: Command): Command {
  return cmd.addOption(
    new Option('--backend <name>', `tfjs backend (default: $${BACKEND_ENV_VAR} or auto: node-gpu -> node -> wasm -> cpu)`).choices([...BACKEND_REQUESTS]),
  );
}

/** Initialises the requested backend and prints the choice on one line (stdout, or stderr with `stderr`). */
export async function setupBackend(requested: string | undefined, opts: { stderr?: boolean } = {}): Promise<BackendInfo> {
  let info: BackendInfo;
  try {
    info = await initBackend(requested as BackendRequest | undefined);
  } catch (err) {
    const from = requested ? `--backend ${requested}` : `${BACKEND_ENV_VAR}=${process.env[BACKEND_ENV_VAR] ?? ''}`;
    throw new UserError(`${from}: ${(err as Error).message}`);
  }
  // On stderr when stdout carries JSON, so the output stays parseable.
  (opts.stderr ? console.error : console.log)(`backend: ${info.name} (${info.description})`);
  return info;
}

/** Adds the data set options shared by train and eval. */
export function withData(cmd: Command): Command {
  return cmd
    .option('--data <dir>', 'a synthetic data set directory (dataset.json + images/, from `captioner synth`)')
    .option('--karpathy <json>', 'a Karpathy split JSON (dataset_flickr8k.json, dataset_coco.json, ...)')
    .option('--images <dir>', 'image directory of the --karpathy data set')
    .option('--kafka-topic <topic>', 'read the data set from a Kafka topic (records as in src/kafka/training-examples.ts)')
    .option('--kafka-brokers <list>', 'with --kafka-topic: bootstrap servers HOST:PORT[,...] (or "brokers" in --kafka-config)')
    .option('--kafka-config <file>', 'with --kafka-topic: JSON client config (brokers, ssl, sasl, retry, ...)')
    .option('--allow-root <dir>', 'with --kafka-topic: directory that image path references must resolve inside')
    .option('--max-len <n>', 'drop captions longer than this many words', int(1), 50);
}

export interface DataOptions {
  data?: string;
  karpathy?: string;
  images?: string;
  kafkaTopic?: string;
  kafkaBrokers?: string;
  kafkaConfig?: string;
  allowRoot?: string;
  maxLen: number;
}

/** Loads the data set named by --data or --karpathy/--images, with errors naming the option. */
export async function loadData(o: DataOptions): Promise<KarpathyDataset> {
  if ([o.data, o.karpathy, o.kafkaTopic].filter(Boolean).length > 1) {
    throw new UserError('pass one data source: --data DIR, --karpathy JSON --images DIR, or --kafka-topic TOPIC');
  }
  if (o.kafkaTopic) return loadKafkaData(o.kafkaTopic, o);
  if (o.data) {
    const dir = resolve(o.data);
    const json = join(dir, 'dataset.json');
    if (!(await exists(json))) throw new UserError(`--data ${o.data}: no dataset.json in ${dir}; create one with \`captioner synth --out ${o.data}\``);
    return loadKarpathy(json, join(dir, 'images'), { maxLen: o.maxLen });
  }
  if (o.karpathy) {
    if (!o.images) throw new UserError('--karpathy needs --images DIR, the directory holding the images');
    if (!(await exists(o.karpathy))) throw new UserError(`--karpathy ${o.karpathy}: no such file`);
    if (!(await isDir(o.images))) throw new UserError(`--images ${o.images}: no such directory`);
    return loadKarpathy(resolve(o.karpathy), resolve(o.images), { maxLen: o.maxLen });
  }
  throw new UserError('no data set: pass --data DIR (from `captioner synth`), --karpathy JSON --images DIR, or --kafka-topic TOPIC');
}

/** A topic snapshot as a data set; inline images are spooled to a temp directory. */
async function loadKafkaData(topic: string, o: DataOptions): Promise<KarpathyDataset> {
  let options;
  try {
    options = await resolveKafkaOptions(o.kafkaConfig, { brokers: o.kafkaBrokers !== undefined ? parseBrokerList(o.kafkaBrokers) : undefined });
  } catch (e) {
    throw e instanceof KafkaConfigError ? new UserError(e.message) : e;
  }
  const client = createKafkajsClient(options);
  const spoolDir = await mkdtemp(join(tmpdir(), 'captioner-kafka-images-'));
  // The spooled images are read until the command ends (training reads them every epoch), so the
  // directory goes when the process exits, however it exits short of a crash of the runtime.
  process.once('exit', () => rmSync(spoolDir, { recursive: true, force: true }));
  let skipped = 0;
  let data;
  try {
    data = await loadKafkaDataset({
      client, topic, spoolDir, allowRoot: o.allowRoot ? resolve(o.allowRoot) : undefined,
      onSkip: (source, reason, message) => {
        skipped++;
        console.error(`skipped ${source}: ${reason}: ${message}`);
      },
    });
  } catch (e) {
    if (e instanceof Error && e.name.startsWith('KafkaJS')) throw new UserError(`--kafka-topic ${topic} at ${options.brokers.join(',')}: ${e.message}`);
    throw e;
  }
  const images = data.images
    .map((im) => ({ ...im, captions: im.captions.filter((c) => c.length <= o.maxLen) }))
    .filter((im) => im.captions.length > 0);
  if (images.length === 0) throw new UserError(`--kafka-topic ${topic}: no usable training records (${skipped} skipped)`);
  return { name: data.name, jsonPath: `kafka:${topic}`, images, skippedImages: skipped + data.images.length - images.length };
}

/** A model directory as given, or its best/ checkpoint when given a train --out directory. */
export async function resolveModelDir(dir: string, option = '--model'): Promise<string> {
  const d = resolve(dir);
  if (await exists(join(d, 'model.json'))) return d;
  if (await exists(join(d, 'best', 'model.json'))) return join(d, 'best');
  if (!(await isDir(d))) throw new UserError(`${option} ${dir}: no such directory`);
  throw new UserError(`${option} ${dir}: not a model directory (no model.json, no best/model.json); train one with \`captioner train --out DIR\``);
}

export const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);
export const isDir = (p: string): Promise<boolean> => stat(p).then((s) => s.isDirectory(), () => false);
