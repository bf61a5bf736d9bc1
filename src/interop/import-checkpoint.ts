import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { PreprocessConfig } from '../data/types.js';
import { Vocabulary } from '../data/vocabulary.js';
import { IMAGENET_PREPROCESS } from '../data/types.js';
import { validateModelConfig } from '../model/config.js';
import { resnetOutputDim } from '../model/resnet-encoder.js';
import { ShowAttendTell } from '../model/show-attend-tell.js';
import type { ModelConfig } from '../model/types.js';
import { isObject, type PyObject } from './pickle.js';
import { isTensor, PthError, readPth, tensorValues, type TorchTensor } from './pth.js';
import { assignResnetWeights, resnetOptionsOf, torchvisionKeys } from './resnet-weights.js';
import { className, isModule, moduleAttr, modulesByPath, stateDict } from './torch-module.js';

/*
 * A PyTorch Show-Attend-Tell checkpoint (the tutorial's or its descendants') as one of our models:
 * whole pickled modules or state_dicts, in either torch.save container, with the word map beside it.
 */

/** How the reference prepares an image: 256x256 squash (Pillow's BILINEAR), /255, ImageNet mean/std, alpha dropped. */
export const REFERENCE_PREPROCESS: PreprocessConfig = { ...IMAGENET_PREPROCESS, alpha: 'drop', resizeKernel: 'pil-bilinear' };

/** A word map that does not fit the checkpoint; the message names the file. */
export class WordMapError extends Error {
  override readonly name = 'WordMapError';
}

export interface ImportedModel {
  model: ShowAttendTell;
  vocab: Vocabulary;
  preprocess: PreprocessConfig;
  meta: Record<string, unknown>;
  /** What the import decided that a user should know (e.g. a default it assumed). */
  notes: string[];
}

interface Part {
  sd: Map<string, TorchTensor>;
  /** The pickled module, when the file holds whole modules (hyper-parameters are read from it). */
  module?: PyObject;
}

function partOf(v: unknown): Part | undefined {
  if (isModule(v)) return { sd: stateDict(v), module: v };
  if (v instanceof Map && [...v.values()].some(isTensor)) {
    return { sd: new Map([...v.entries()].filter((e): e is [string, TorchTensor] => typeof e[0] === 'string' && isTensor(e[1]))) };
  }
  return undefined;
}

function sub(sd: Map<string, TorchTensor>, prefix: string): Map<string, TorchTensor> {
  return new Map([...sd.entries()].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

/** The encoder and decoder of a checkpoint in any of the layouts users have. */
function findParts(file: string, root: unknown): { encoder: Part; decoder: Part; layout: string } {
  const describe = (v: unknown) => (v instanceof Map ? `a dict with keys ${[...v.keys()].slice(0, 8).map(String).join(', ')}` : isObject(v) ? `a pickled ${className(v)}` : Array.isArray(v) ? 'a list' : `a ${typeof v}`);
  if (root instanceof Map) {
    const encoder = partOf(root.get('encoder'));
    const decoder = partOf(root.get('decoder'));
    if (encoder && decoder) return { encoder, decoder, layout: encoder.module ? 'whole modules' : 'state_dicts' };
    const flat = partOf(root);
    if (flat) {
      const enc = sub(flat.sd, 'encoder.');
      const dec = sub(flat.sd, 'decoder.');
      if (enc.size > 0 && dec.size > 0) return { encoder: { sd: enc }, decoder: { sd: dec }, layout: 'flat state_dict' };
      if (flat.sd.has('decode_step.weight_ih')) throw new PthError(file, 'holds a decoder state_dict without the encoder; save both (encoder.* and decoder.* keys) or the tutorial\'s checkpoint');
      if (flat.sd.has('conv1.weight')) throw new PthError(file, 'is a ResNet state_dict, not a captioning checkpoint: use it with `captioner train --encoder-weights`');
    }
  }
  throw new PthError(file, `is not a Show-Attend-Tell checkpoint: expected {encoder, decoder} (the tutorial's) or encoder.*/decoder.* weights, found ${describe(root)}`);
}

const need = (file: string, sd: Map<string, TorchTensor>, key: string, rank: number): TorchTensor => {
  const t = sd.get(key);
  if (!t) throw new PthError(file, `the decoder lacks ${key}: not the Show-Attend-Tell decoder (attention, embedding, decode_step, init_h, init_c, f_beta, fc)`);
  if (t.shape.length !== rank) throw new PthError(file, `decoder ${key} has shape [${t.shape.join(', ')}], expected rank ${rank}`);
  return t;
};

/** The encoder's batch-norm epsilon and a check that its convs are torchvision's (stride, padding). */
function encoderHyperParameters(file: string, module: PyObject | undefined, notes: string[]): { eps?: number; grid?: number } {
  if (!module) {
    notes.push('the file holds state_dicts: batch-norm epsilon 1e-5 and a 14x14 grid assumed (PyTorch and the reference defaults)');
    return {};
  }
  const mods = modulesByPath(module);
  const epsilons = new Set<number>();
  for (const [p, m] of mods) {
    const name = className(m);
    if (name.endsWith('BatchNorm2d')) epsilons.add(Number(moduleAttr(m, 'eps')));
    if (name.endsWith('.Conv2d')) {
      const k = (moduleAttr(m, 'kernel_size') as number[] | undefined)?.[0] ?? 0;
      const pad = (moduleAttr(m, 'padding') as number[] | undefined) ?? [];
      const dilation = (moduleAttr(m, 'dilation') as number[] | undefined) ?? [1, 1];
      const groups = moduleAttr(m, 'groups') ?? 1;
      if (pad[0] !== (k - 1) / 2 || pad[1] !== pad[0] || dilation.some((d) => d !== 1) || groups !== 1) {
        throw new PthError(file, `encoder conv ${p} has padding ${JSON.stringify(pad)}, dilation ${JSON.stringify(dilation)}, groups ${String(groups)} for a ${k}x${k} kernel: not torchvision's ResNet`);
      }
    }
  }
  if (epsilons.size > 1) throw new PthError(file, `the encoder's batch norms use different epsilons (${[...epsilons].join(', ')})`);
  const grid = moduleAttr(module, 'enc_image_size');
  const pool = mods.get('adaptive_pool');
  const out = pool ? moduleAttr(pool, 'output_size') : undefined;
  const size = Array.isArray(out) ? Number(out[0]) : typeof grid === 'number' ? grid : undefined;
  return { eps: [...epsilons][0], grid: size };
}

/**
 * The vocabulary of a word map {word: index} for a decoder of `v` words. The tutorial's map assigns
 * 0..v-1 once each. The descendant's assigns <unk> = v (out of range) and never assigns N+1: its
 * <unk> then takes that unused index, which its decoder never learned to emit.
 */
export function vocabularyOf(source: string, wordMap: unknown, v: number, notes: string[]): Vocabulary {
  if (!wordMap || typeof wordMap !== 'object' || Array.isArray(wordMap)) throw new WordMapError(`${source}: not a word map ({"word": index, ...})`);
  const entries = Object.entries(wordMap as Record<string, unknown>);
  const words: (string | undefined)[] = Array.from({ length: v }, () => undefined);
  let outOfRange: [string, number][] = [];
  for (const [word, index] of entries) {
    if (!Number.isInteger(index) || (index as number) < 0) throw new WordMapError(`${source}: "${word}" has index ${JSON.stringify(index)}, not an integer >= 0`);
    const i = index as number;
    if (i >= v) {
      outOfRange.push([word, i]);
      continue;
    }
    if (words[i] !== undefined) throw new WordMapError(`${source}: index ${i} is given to both "${words[i]}" and "${word}"`);
    words[i] = word;
  }
  const holes = words.map((w, i) => (w === undefined ? i : -1)).filter((i) => i >= 0);
  if (outOfRange.length === 1 && outOfRange[0]![0] === '<unk>' && holes.length === 1) {
    notes.push(`the word map gives <unk> index ${outOfRange[0]![1]}, beyond the decoder's ${v} words (the descendant's layout); <unk> takes the unused index ${holes[0]}`);
    words[holes[0]!] = '<unk>';
    outOfRange = [];
    holes.length = 0;
  }
  if (outOfRange.length > 0) {
    const shown = outOfRange.slice(0, 3).map(([w, i]) => `"${w}": ${i}`).join(', ');
    throw new WordMapError(`${source}: ${outOfRange.length} entries (${shown}) are beyond the decoder's ${v} words: this word map is not the one the checkpoint was trained with`);
  }
  if (holes.length > 0) throw new WordMapError(`${source}: has ${entries.length} entries for a decoder of ${v} words; indices ${holes.slice(0, 5).join(', ')} have no word: this word map is not the one the checkpoint was trained with`);
  try {
    return Vocabulary.fromJSON({ formatVersion: 1, words });
  } catch (err) {
    throw new WordMapError(`${source}: ${(err as Error).message}`, { cause: err });
  }
}

const transpose = (values: Float32Array, rows: number, cols: number): Float32Array => {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
};

/** Reads a PyTorch checkpoint and its word map into a model; the caller owns (disposes) the model. */
export async function importCheckpoint(file: string, wordMapFile?: string): Promise<ImportedModel> {
  const pth = await readPth(file);
  const notes: string[] = [];
  const { encoder, decoder, layout } = findParts(file, pth.root);
  const d = decoder.sd;
  const emb = need(file, d, 'embedding.weight', 2);
  const wih = need(file, d, 'decode_step.weight_ih', 2);
  const whh = need(file, d, 'decode_step.weight_hh', 2);
  const bih = need(file, d, 'decode_step.bias_ih', 1);
  const bhh = need(file, d, 'decode_step.bias_hh', 1);
  const encAtt = need(file, d, 'attention.encoder_att.weight', 2);
  const decAtt = need(file, d, 'attention.decoder_att.weight', 2);
  const fullAtt = need(file, d, 'attention.full_att.weight', 2);
  const fc = need(file, d, 'fc.weight', 2);
  const [v, embedDim] = emb.shape as [number, number];
  const [attentionDim, encoderDim] = encAtt.shape as [number, number];
  const decoderDim = whh.shape[1]!;
  const expect = (key: string, t: TorchTensor, shape: number[]) => {
    if (t.shape.join(',') !== shape.join(',')) throw new PthError(file, `decoder ${key} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] from the other weights`);
  };
  expect('decode_step.weight_ih', wih, [4 * decoderDim, embedDim + encoderDim]);
  expect('decode_step.bias_ih', bih, [4 * decoderDim]);
  expect('decode_step.bias_hh', bhh, [4 * decoderDim]);
  expect('attention.decoder_att.weight', decAtt, [attentionDim, decoderDim]);
  expect('attention.full_att.weight', fullAtt, [1, attentionDim]);
  expect('fc.weight', fc, [v, decoderDim]);

  const resnetSd = torchvisionKeys(encoder.sd, 'resnet.');
  const hyper = encoderHyperParameters(file, encoder.module, notes);
  const resnet = resnetOptionsOf(file, resnetSd, hyper.eps);
  const config: ModelConfig = {
    formatVersion: 1,
    encoder: { kind: 'resnet', ...resnet, fineTune: false },
    gridSize: hyper.grid ?? 14,
    encoderDim,
    attentionDim,
    embedDim,
    decoderDim,
    vocabSize: v,
    dropout: decoder.module ? Number(moduleAttr(modulesByPath(decoder.module).get('dropout') ?? decoder.module, 'p') ?? 0.5) : 0.5,
    attentionActivation: 'relu',
    initState: 'mean',
  };
  if (resnetOutputDim(config.encoder as never) !== encoderDim) {
    throw new PthError(file, `the encoder gives ${resnetOutputDim(config.encoder as never)} channels but the decoder reads ${encoderDim}`);
  }
  validateModelConfig(config, `${file} (imported config)`);

  let vocab: Vocabulary;
  if (!wordMapFile) throw new PthError(file, 'holds no word map: pass the WORDMAP_*.json it was trained with (--word-map)');
  try {
    vocab = vocabularyOf(wordMapFile, JSON.parse(await fs.readFile(wordMapFile, 'utf8')), v, notes);
  } catch (err) {
    if (err instanceof WordMapError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new WordMapError(code ? `${wordMapFile}: cannot be read (${code})` : `${wordMapFile}: not valid JSON (${(err as Error).message})`, { cause: err });
  }

  const model = ShowAttendTell.create(config);
  try {
    assignResnetWeights(file, model, resnetSd);
    const w = model.decoder;
    const values = (key: string) => tensorValues(file, `decoder.${key}`, d.get(key) ?? need(file, d, key, 1));
    const linear = (key: string, kernel: tf.Variable, bias: tf.Variable) => {
      const t = need(file, d, `${key}.weight`, 2);
      const [out, inp] = t.shape as [number, number];
      tf.tidy(() => {
        kernel.assign(tf.tensor2d(transpose(values(`${key}.weight`), out, inp), [inp, out]));
        bias.assign(tf.tensor1d(values(`${key}.bias`)));
      });
    };
    tf.tidy(() => w.embedding.assign(tf.tensor2d(values('embedding.weight'), [v, embedDim])));
    linear('attention.encoder_att', w.encoderAttKernel, w.encoderAttBias);
    linear('attention.decoder_att', w.decoderAttKernel, w.decoderAttBias);
    linear('attention.full_att', w.fullAttKernel, w.fullAttBias);
    linear('init_h', w.initHKernel, w.initHBias);
    linear('init_c', w.initCKernel, w.initCBias);
    linear('f_beta', w.fBetaKernel, w.fBetaBias);
    linear('fc', w.fcKernel, w.fcBias);
    // Our LSTM kernel is [emb + enc + dec, 4*dec] with PyTorch's gate order (i, f, g, o): the two
    // PyTorch matrices stack (input rows, then recurrent rows) without reordering; the biases add.
    const g = 4 * decoderDim;
    const ih = transpose(values('decode_step.weight_ih'), g, embedDim + encoderDim);
    const hh = transpose(values('decode_step.weight_hh'), g, decoderDim);
    const kernel = new Float32Array(ih.length + hh.length);
    kernel.set(ih);
    kernel.set(hh, ih.length);
    const b1 = values('decode_step.bias_ih');
    const b2 = values('decode_step.bias_hh');
    tf.tidy(() => {
      w.lstmKernel.assign(tf.tensor2d(kernel, [embedDim + encoderDim + decoderDim, g]));
      w.lstmBias.assign(tf.tensor1d(b1.map((x, i) => x + b2[i]!)));
    });
  } catch (err) {
    model.dispose();
    throw err;
  }
  const root = pth.root instanceof Map ? pth.root : new Map();
  const scalar = (k: string) => (typeof root.get(k) === 'number' ? (root.get(k) as number) : undefined);
  const meta: Record<string, unknown> = {
    importedFrom: path.basename(file),
    container: pth.container,
    layout,
    epoch: scalar('epoch'),
    bleu4: scalar('bleu-4') ?? scalar('best_bleu'),
    notes,
  };
  return { model, vocab, preprocess: REFERENCE_PREPROCESS, meta, notes };
}
