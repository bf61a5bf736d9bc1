/**
 * Test helpers: run the same computation on the cpu and wasm backends of one process and
 * compare. Inputs are plain arrays so each backend builds its own tensors.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../../src/backend/index.js';

export interface Result {
  shape: number[];
  values: Float32Array;
}

/** Makes the wasm backend current with our kernels registered; the cpu backend stays available. */
export async function setUpBothBackends(): Promise<void> {
  // Silences tfjs' "install our node backend" hint when the cpu backend is used as reference.
  tf.env().set('IS_TEST', true);
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend failed to initialize');
  registerWasmTrainingKernels();
}

/** Runs `f` on `backend` and returns its (single) output as plain values; disposes everything. */
export async function runOn(backend: 'cpu' | 'wasm', f: () => tf.Tensor): Promise<Result> {
  await tf.setBackend(backend);
  const t = tf.tidy(f);
  try {
    const values = Float32Array.from(await t.data());
    return { shape: t.shape, values };
  } finally {
    t.dispose();
    await tf.setBackend('wasm');
  }
}

/** Like {@link runOn} for functions returning several tensors (e.g. gradients). */
export async function runManyOn(backend: 'cpu' | 'wasm', f: () => tf.Tensor[]): Promise<Result[]> {
  await tf.setBackend(backend);
  const ts = tf.tidy(f);
  try {
    const out: Result[] = [];
    for (const t of ts) out.push({ shape: t.shape, values: Float32Array.from(await t.data()) });
    return out;
  } finally {
    tf.dispose(ts);
    await tf.setBackend('wasm');
  }
}

/**
 * Largest error relative to the reference's scale: max |a - b| / max(1e-6, max |ref|).
 * Sums of many random-signed terms make individual small entries meaningless to compare
 * element-relative, so the scale of the whole tensor is the yardstick.
 */
export function relativeError(actual: Result, reference: Result): number {
  if (actual.shape.join(',') !== reference.shape.join(',')) {
    throw new Error(`shape ${actual.shape} differs from reference ${reference.shape}`);
  }
  let maxDiff = 0;
  let scale = 1e-6;
  for (let i = 0; i < reference.values.length; i++) {
    const ref = reference.values[i] as number;
    maxDiff = Math.max(maxDiff, Math.abs((actual.values[i] as number) - ref));
    scale = Math.max(scale, Math.abs(ref));
  }
  if (Number.isNaN(maxDiff)) return Number.POSITIVE_INFINITY;
  return maxDiff / scale;
}

/** Deterministic uniform values in [-1, 1) (mulberry32), so failures reproduce. */
export function randomValues(size: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296 * 2 - 1;
  }
  return out;
}

/** Tensors and kernel buffers alive right now (a kernel that forgets an intermediate leaks a buffer, not a tensor). */
export function liveCounts(): { tensors: number; buffers: number } {
  return { tensors: tf.memory().numTensors, buffers: tf.engine().backend.numDataIds() };
}
