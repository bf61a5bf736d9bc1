import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { PreprocessConfig } from '../data/types.js';
import { Vocabulary } from '../data/vocabulary.js';
import { CheckpointError } from './checkpoint-error.js';
import { validateModelConfig } from './config.js';
import { ShowAttendTell } from './show-attend-tell.js';
import type { SerializedTensor, Trainer, TrainerState } from './trainer.js';
import type { ModelConfig } from './types.js';

/** The version of the directory layout below; loadCheckpoint refuses any other. */
export const CHECKPOINT_FORMAT_VERSION = 1;

/*
 * Layout of a checkpoint directory:
 *   model.json        { formatVersion, kind, config, weights: manifest of weights.bin, meta, savedAt }
 *   weights.bin       float32 little-endian values of every stored weight, in manifest order
 *   vocabulary.json   Vocabulary.toJSON()
 *   preprocess.json   PreprocessConfig
 *   training.json     { training } (free-form state of the training loop)
 *   trainer.json/.bin optional Adam state (manifest + values), for resuming
 */

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  offset: number;
  byteLength: number;
}

interface ModelFile {
  formatVersion: number;
  kind: 'show-attend-tell';
  config: ModelConfig;
  weights: ManifestEntry[];
  meta: Record<string, unknown>;
  savedAt: string;
}

interface TrainerFile {
  formatVersion: 1;
  steps: number;
  learningRates: { decoder: number; encoder: number };
  decoder: ManifestEntry[];
  encoder: ManifestEntry[];
  /** With weight averaging: the live weights (model.json's weights are their average) and the average. */
  averaging?: { updates: number; live: ManifestEntry[]; average: ManifestEntry[] };
}

function pack(items: { name: string; shape: number[]; dtype: 'float32' | 'int32'; values: Float32Array | Int32Array }[]): { manifest: ManifestEntry[]; bytes: Buffer } {
  const manifest: ManifestEntry[] = [];
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const it of items) {
    const bytes = Buffer.from(it.values.buffer, it.values.byteOffset, it.values.byteLength);
    manifest.push({ name: it.name, shape: it.shape, dtype: it.dtype, offset, byteLength: bytes.byteLength });
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  return { manifest, bytes: Buffer.concat(chunks) };
}

function unpack(dir: string, file: string, entry: ManifestEntry, bytes: Buffer): Float32Array | Int32Array {
  const n = entry.shape.reduce((a, b) => a * b, 1);
  if (entry.byteLength !== n * 4 || entry.offset + entry.byteLength > bytes.byteLength) {
    throw new CheckpointError(dir, `${file} is truncated or does not match its manifest at ${entry.name}`);
  }
  const copy = new Uint8Array(bytes.subarray(entry.offset, entry.offset + entry.byteLength)).buffer;
  return entry.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy);
}

/**
 * Writes a checkpoint atomically: everything goes to a temporary sibling directory which then
 * replaces `dir` by rename, so a crash leaves either the old or the new checkpoint, never a mix.
 * An existing `dir` that is not a checkpoint (no model.json) and not empty is refused.
 */
export async function saveCheckpoint(
  dir: string,
  c: { model: ShowAttendTell; vocab: { toJSON(): unknown }; preprocess: PreprocessConfig; trainer?: Trainer; training?: unknown; meta?: Record<string, unknown> },
): Promise<void> {
  const target = path.resolve(dir);
  const parent = path.dirname(target);
  const base = path.basename(target);
  const existing = await fs.readdir(target).catch(() => null);
  if (existing && existing.length > 0 && !existing.includes('model.json')) {
    throw new CheckpointError(target, 'exists and is not a checkpoint (no model.json); choose an empty or new directory');
  }
  const readWeights = async () => {
    const weights: { name: string; shape: number[]; dtype: 'float32'; values: Float32Array }[] = [];
    for (const { name, variable } of c.model.namedWeights()) {
      weights.push({ name, shape: [...variable.shape], dtype: 'float32', values: (await variable.data()) as Float32Array });
    }
    return weights;
  };
  // A trainer that averages weights saves the average as the model (trainer.bin keeps the live ones).
  const weights = c.trainer ? await c.trainer.withAveragedWeights(readWeights) : await readWeights();
  const packed = pack(weights);
  const modelFile: ModelFile = {
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    kind: 'show-attend-tell',
    config: c.model.config,
    weights: packed.manifest,
    meta: c.meta ?? {},
    savedAt: new Date().toISOString(),
  };
  await fs.mkdir(parent, { recursive: true });
  const tmp = path.join(parent, `.${base}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(tmp);
  try {
    await fs.writeFile(path.join(tmp, 'weights.bin'), packed.bytes);
    await fs.writeFile(path.join(tmp, 'model.json'), JSON.stringify(modelFile, null, 2));
    await fs.writeFile(path.join(tmp, 'vocabulary.json'), JSON.stringify(c.vocab.toJSON()));
    await fs.writeFile(path.join(tmp, 'preprocess.json'), JSON.stringify(c.preprocess, null, 2));
    await fs.writeFile(path.join(tmp, 'training.json'), JSON.stringify({ training: c.training ?? null }, null, 2));
    if (c.trainer) {
      const state = await c.trainer.state();
      // One trainer.bin: the groups' blocks one after another, each manifest's offsets shifted to its block.
      const blocks: Buffer[] = [];
      const block = (items: SerializedTensor[]): ManifestEntry[] => {
        const at = blocks.reduce((n, b) => n + b.byteLength, 0);
        const p = pack(items);
        blocks.push(p.bytes);
        return p.manifest.map((e) => ({ ...e, offset: e.offset + at }));
      };
      const file: TrainerFile = {
        formatVersion: 1,
        steps: state.steps,
        learningRates: state.learningRates,
        decoder: block(state.optimizers.decoder),
        encoder: block(state.optimizers.encoder),
        ...(state.averaging ? { averaging: { updates: state.averaging.updates, live: block(state.averaging.live), average: block(state.averaging.average) } } : {}),
      };
      await fs.writeFile(path.join(tmp, 'trainer.bin'), Buffer.concat(blocks));
      await fs.writeFile(path.join(tmp, 'trainer.json'), JSON.stringify(file, null, 2));
    }
    let old: string | null = null;
    if (existing) {
      old = path.join(parent, `.${base}.old-${process.pid}-${randomBytes(4).toString('hex')}`);
      await fs.rename(target, old);
    }
    try {
      await fs.rename(tmp, target);
    } catch (err) {
      if (old) await fs.rename(old, target);
      throw err;
    }
    if (old) await fs.rm(old, { recursive: true, force: true });
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(target, `could not be written (${(err as Error).message})`, { cause: err });
  }
}

async function readJson(dir: string, file: string): Promise<unknown> {
  const p = path.join(dir, file);
  let text: string;
  try {
    text = await fs.readFile(p, 'utf8');
  } catch (err) {
    throw new CheckpointError(dir, `missing ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the directory is incomplete or not a checkpoint`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(dir, `${file} is not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

async function readBin(dir: string, file: string): Promise<Buffer> {
  return fs.readFile(path.join(dir, file)).catch((err: unknown) => {
    throw new CheckpointError(dir, `missing ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  });
}

/** What loadCheckpoint returns; the caller owns (and disposes) the model. */
export interface LoadedCheckpoint {
  model: ShowAttendTell;
  vocab: Vocabulary;
  preprocess: PreprocessConfig;
  trainerState?: TrainerState;
  training?: unknown;
  meta: Record<string, unknown>;
}

/** Reads a checkpoint written by saveCheckpoint; every failure is a CheckpointError naming the directory. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const target = path.resolve(dir);
  const stat = await fs.stat(target).catch(() => null);
  if (!stat?.isDirectory()) throw new CheckpointError(target, 'does not exist (or is not a directory); pass the directory saveCheckpoint wrote');
  const mf = (await readJson(target, 'model.json')) as Partial<ModelFile>;
  if (mf.formatVersion !== CHECKPOINT_FORMAT_VERSION || mf.kind !== 'show-attend-tell') {
    throw new CheckpointError(target, `was written by another version (formatVersion ${String(mf.formatVersion)}, kind ${String(mf.kind)}; this build reads formatVersion ${CHECKPOINT_FORMAT_VERSION})`);
  }
  const config = mf.config as ModelConfig;
  try {
    validateModelConfig(config, 'model.json config');
  } catch (err) {
    throw new CheckpointError(target, (err as Error).message, { cause: err });
  }
  let vocab: Vocabulary;
  try {
    vocab = Vocabulary.fromJSON(await readJson(target, 'vocabulary.json'), 'vocabulary.json');
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(target, (err as Error).message, { cause: err });
  }
  if (vocab.size !== config.vocabSize) throw new CheckpointError(target, `vocabulary.json has ${vocab.size} words but the model expects ${config.vocabSize}`);
  const preprocess = (await readJson(target, 'preprocess.json')) as PreprocessConfig;
  const training = ((await readJson(target, 'training.json')) as { training?: unknown }).training ?? undefined;
  const bytes = await readBin(target, 'weights.bin');
  const manifest = new Map((mf.weights ?? []).map((e) => [e.name, e]));
  const model = await ShowAttendTell.load(config).catch((err: unknown) => {
    throw new CheckpointError(target, `cannot build its model (${(err as Error).message})`, { cause: err });
  });
  try {
    for (const { name, variable } of model.namedWeights()) {
      const entry = manifest.get(name);
      if (!entry) throw new CheckpointError(target, `weights.bin lacks weight ${name}`);
      if (entry.shape.join(',') !== variable.shape.join(',')) {
        throw new CheckpointError(target, `shape mismatch for ${name}: stored [${entry.shape.join(', ')}], model [${variable.shape.join(', ')}]`);
      }
      const values = unpack(target, 'weights.bin', entry, bytes);
      tf.tidy(() => variable.assign(tf.tensor(values, entry.shape, variable.dtype)));
    }
  } catch (err) {
    model.dispose();
    throw err;
  }
  let trainerState: TrainerState | undefined;
  const hasTrainer = await fs.stat(path.join(target, 'trainer.json')).then(() => true, () => false);
  if (hasTrainer) {
    const tf1 = (await readJson(target, 'trainer.json')) as TrainerFile;
    const tb = await readBin(target, 'trainer.bin');
    const read = (entries: ManifestEntry[]): SerializedTensor[] =>
      entries.map((e) => ({ name: e.name, shape: e.shape, dtype: e.dtype, values: unpack(target, 'trainer.bin', e, tb) }));
    const av = tf1.averaging;
    trainerState = {
      formatVersion: 1, steps: tf1.steps, learningRates: tf1.learningRates, optimizers: { decoder: read(tf1.decoder), encoder: read(tf1.encoder) },
      ...(av ? { averaging: { updates: av.updates, live: read(av.live), average: read(av.average) } } : {}),
    };
  }
  return { model, vocab, preprocess, trainerState, training, meta: mf.meta ?? {} };
}
