import * as tf from '@tensorflow/tfjs';
import type { ShowAttendTell } from '../model/show-attend-tell.js';
import { DEFAULT_RESNET_WIDTHS, type ResnetOptions } from '../model/resnet-encoder.js';
import { isTensor, PthError, readPth, tensorValues, type TorchTensor } from './pth.js';
import { isModule, stateDict } from './torch-module.js';

/*
 * torchvision ResNet weights from a .pth state_dict onto ResnetEncoder. Two key layouts:
 * torchvision's own (conv1, bn1, layer1..layer4, fc) and the reference Encoder's nn.Sequential of
 * the same children (resnet.0 = conv1, resnet.1 = bn1, resnet.4..7 = layer1..layer4).
 */

const SEQUENTIAL_NAMES: Record<string, string> = { '0': 'conv1', '1': 'bn1', '4': 'layer1', '5': 'layer2', '6': 'layer3', '7': 'layer4' };

/**
 * The ResNet's tensors keyed as torchvision keys them, from a state_dict in either layout; `prefix`
 * is what precedes the Sequential's indices ('encoder.resnet.' in a flat checkpoint state_dict,
 * 'resnet.' in the Encoder module's). fc and num_batches_tracked are dropped (unused at inference).
 */
export function torchvisionKeys(sd: ReadonlyMap<string, TorchTensor>, prefix = 'resnet.'): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  for (const [key, t] of sd) {
    let k = key;
    if (k.startsWith(prefix)) {
      const [index, ...rest] = k.slice(prefix.length).split('.');
      const name = SEQUENTIAL_NAMES[index!];
      if (!name) continue;
      k = [name, ...rest].join('.');
    } else if (!/^(conv1|bn1|layer[1-4])\./.test(k)) {
      continue;
    }
    if (k.endsWith('num_batches_tracked')) continue;
    out.set(k, t);
  }
  return out;
}

/** The architecture a torchvision-keyed state_dict describes (block type, blocks and planes per stage, stem). */
export function resnetOptionsOf(file: string, sd: ReadonlyMap<string, TorchTensor>, bnEpsilon?: number): Omit<ResnetOptions, 'fineTune'> {
  const conv1 = sd.get('conv1.weight');
  if (!conv1 || conv1.shape.length !== 4 || conv1.shape[1] !== 3) throw new PthError(file, 'has no ResNet stem (conv1.weight [C, 3, 7, 7] or resnet.0.weight): not a torchvision ResNet');
  const block = sd.has('layer1.0.conv3.weight') ? 'bottleneck' : 'basic';
  const layers: number[] = [];
  const widths: number[] = [];
  for (let s = 1; s <= 4; s++) {
    let n = 0;
    while (sd.has(`layer${s}.${n}.conv1.weight`)) n++;
    if (n === 0) throw new PthError(file, `has no layer${s}.0.conv1.weight: not a four-stage torchvision ResNet`);
    layers.push(n);
    widths.push(sd.get(`layer${s}.0.conv1.weight`)!.shape[0]!);
  }
  const isDefault = widths.every((w, i) => w === DEFAULT_RESNET_WIDTHS[i]);
  const stem = conv1.shape[0]!;
  return { block, layers, ...(isDefault ? {} : { widths }), ...(stem === 64 ? {} : { stem }), ...(bnEpsilon !== undefined && bnEpsilon !== 1e-5 ? { bnEpsilon } : {}) };
}

/** A PyTorch weight in tfjs layout: conv kernels [out, in, kh, kw] -> [kh, kw, in, out]. */
function toTfjsLayout(values: Float32Array, shape: number[]): { values: Float32Array; shape: number[] } {
  if (shape.length !== 4) return { values, shape };
  const [o, i, kh, kw] = shape as [number, number, number, number];
  const out = new Float32Array(values.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) out[((y * kw + x) * i + b) * o + a] = values[((a * i + b) * kh + y) * kw + x]!;
  return { values: out, shape: [kh, kw, i, o] };
}

/** Assigns every ResNet weight of `model` from a torchvision-keyed state_dict; a missing or mis-shaped tensor is a PthError. */
export function assignResnetWeights(file: string, model: ShowAttendTell, sd: ReadonlyMap<string, TorchTensor>): void {
  const prefix = 'encoder/resnet/';
  for (const { name, variable } of model.namedWeights()) {
    if (!name.startsWith(prefix)) continue;
    const key = name.slice(prefix.length);
    const t = sd.get(key);
    if (!t) throw new PthError(file, `lacks the ResNet weight ${key}`);
    const { values, shape } = toTfjsLayout(tensorValues(file, key, t), t.shape);
    if (shape.join(',') !== variable.shape.join(',')) throw new PthError(file, `${key} has shape [${t.shape.join(', ')}], the ResNet expects [${variable.shape.join(', ')}] (tfjs layout)`);
    tf.tidy(() => variable.assign(tf.tensor(values, shape)));
  }
}

/**
 * Fills a model's ResNet encoder from a PyTorch file: torchvision's state_dict (resnet101-63fe2227.pth
 * style) or a captioning checkpoint holding encoder.resnet.* (whole modules or state_dicts). The file's
 * architecture must be the model's.
 */
export async function loadResnetWeightsFile(file: string, model: ShowAttendTell): Promise<void> {
  const enc = model.config.encoder;
  if (enc.kind !== 'resnet') throw new PthError(file, `--encoder-weights needs a ResNet encoder; the model's is '${enc.kind}'`);
  const root = (await readPth(file)).root;
  let sd: Map<string, TorchTensor>;
  const encoder = root instanceof Map ? root.get('encoder') : undefined;
  if (isModule(encoder)) sd = torchvisionKeys(stateDict(encoder), 'resnet.');
  else if (root instanceof Map) {
    const tensors = new Map([...root.entries()].filter((e): e is [string, TorchTensor] => typeof e[0] === 'string' && isTensor(e[1])));
    sd = torchvisionKeys(tensors, [...tensors.keys()].some((k) => k.startsWith('encoder.resnet.')) ? 'encoder.resnet.' : 'resnet.');
  } else throw new PthError(file, 'holds neither a ResNet state_dict nor a checkpoint with an encoder');
  if (sd.size === 0) throw new PthError(file, 'has no ResNet weights (conv1.*, layer1.* ... or encoder.resnet.*)');
  const found = resnetOptionsOf(file, sd);
  const same = found.block === enc.block && found.layers.join() === enc.layers.join() && (found.widths ?? DEFAULT_RESNET_WIDTHS).join() === (enc.widths ?? DEFAULT_RESNET_WIDTHS).join();
  if (!same) throw new PthError(file, `holds a ${found.block} ResNet with blocks [${found.layers.join(', ')}], the model's encoder is a ${enc.block} ResNet with blocks [${enc.layers.join(', ')}]: pick the matching --encoder`);
  assignResnetWeights(file, model, sd);
}
