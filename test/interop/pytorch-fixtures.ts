/** PyTorch's outputs written by test/fixtures/pytorch/make_fixtures.py, and helpers to compare with them. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { attendPrecompute, decoderStep, initialState, outputLogits } from '../../src/model/decoder.js';
import type { ShowAttendTell } from '../../src/model/show-attend-tell.js';

export const FIXTURES = path.resolve('test/fixtures/pytorch');

export interface BeamOutput {
  ids: number[];
  score: number;
  finished: boolean;
}

export interface PytorchOutputs {
  torch: string;
  encoder_dim: number;
  images: Record<string, 'rgb' | 'grey' | 'rgba'>;
  captions: Record<string, { teacher_ids: number[] } & Record<string, BeamOutput>>;
  tensors: Record<string, { offset: number; shape: number[] }>;
  min_rank_gap: number;
}

export function loadOutputs(): { meta: PytorchOutputs; tensor: (name: string) => { values: Float32Array; shape: number[] } } {
  const meta = JSON.parse(readFileSync(path.join(FIXTURES, 'outputs.json'), 'utf8')) as PytorchOutputs;
  const bin = readFileSync(path.join(FIXTURES, 'outputs.bin'));
  const tensor = (name: string) => {
    const t = meta.tensors[name];
    if (!t) throw new Error(`outputs.json has no tensor ${name}`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    return { values: new Float32Array(new Uint8Array(bin.subarray(t.offset, t.offset + n * 4)).buffer), shape: t.shape };
  };
  return { meta, tensor };
}

/** max |a - b| over max |b| (the reference's scale), and the absolute max difference. */
export function compare(a: ArrayLike<number>, b: ArrayLike<number>): { relative: number; absolute: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return { relative: diff / Math.max(scale, 1e-12), absolute: diff };
}

/** Teacher-forced decoding as the reference: logits [T, V] and alphas [T, L] for words ids[0..T-1]. */
export async function teacherForced(model: ShowAttendTell, features: tf.Tensor3D, ids: number[]): Promise<{ logits: Float32Array; alphas: Float32Array }> {
  const w = model.decoder;
  const [logits, alphas] = tf.tidy(() => {
    const ctx = attendPrecompute(w, features);
    let { h, c } = initialState(w, features, 'mean');
    const ls: tf.Tensor2D[] = [];
    const as: tf.Tensor2D[] = [];
    for (let t = 0; t < ids.length - 1; t++) {
      const emb = tf.gather(w.embedding, tf.tensor1d([ids[t]!], 'int32')) as tf.Tensor2D;
      const out = decoderStep(w, ctx, emb, h, c, 'relu');
      h = out.h;
      c = out.c;
      ls.push(outputLogits(w, out.h, out.context, 0, false));
      as.push(out.alpha);
    }
    return [tf.concat(ls, 0), tf.concat(as, 0)];
  });
  const result = { logits: (await logits.data()) as Float32Array, alphas: (await alphas.data()) as Float32Array };
  tf.dispose([logits, alphas]);
  return result;
}
