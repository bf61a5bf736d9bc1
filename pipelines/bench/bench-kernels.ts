/**
 * Measures each wasm kernel override of src/backend against what it replaces (the stock wasm
 * kernel, or the cpu kernel where wasm has none) and prints medians in ms. An override is kept
 * only if it measurably helps. Run: npx tsx pipelines/bench/bench-kernels.ts
 * Each timing includes `await data()`, after warm-up.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  type WasmTrainingKernel,
} from '../../src/backend/index.js';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 15);

async function time(f: () => tf.Tensor, read: boolean): Promise<number> {
  const start = performance.now();
  const t = f();
  if (read) await t.data();
  else t.dispose();
  const ms = performance.now() - start;
  t.dispose();
  return ms;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/**
 * Stock and ours alternate run by run, so load from other processes on this shared machine
 * hits both alike. `read: false` times the kernel call alone (for Identity, reading the result
 * back would measure the read, not the kernel).
 */
async function compare(label: string, kernels: WasmTrainingKernel[], f: () => tf.Tensor, opts: { read?: boolean; repeats?: number } = {}): Promise<void> {
  const { read = true, repeats = REPEATS } = opts;
  const stock: number[] = [];
  const ours: number[] = [];
  for (let i = 0; i < repeats + 1; i++) {
    unregisterWasmTrainingKernels(kernels);
    const s = await time(f, read);
    registerWasmTrainingKernels(kernels);
    const o = await time(f, read);
    if (i > 0) {
      stock.push(s);
      ours.push(o);
    }
  }
  report(label, 'stock', median(stock), median(ours));
}

/** For kernels wasm lacks, the fallback is the cpu kernel (on copied data). */
async function compareWithCpu(label: string, f: () => tf.Tensor, repeats: number): Promise<void> {
  await tf.setBackend('cpu');
  const cpu: number[] = [];
  for (let i = 0; i < repeats; i++) cpu.push(await time(f, true));
  await tf.setBackend('wasm');
  const ours: number[] = [];
  for (let i = 0; i < REPEATS + 1; i++) ours.push(await time(f, true));
  report(label, 'cpu', median(cpu), median(ours.slice(1)));
}

function report(label: string, base: string, before: number, after: number): void {
  console.log(`${label.padEnd(60)} ${base.padEnd(5)} ${fmt(before)}  ours ${fmt(after)}  x${(before / after).toFixed(1)}`);
}

const rand = (shape: number[]): tf.Tensor => tf.randomUniform(shape, -1, 1);
const fmt = (ms: number): string => `${ms.toFixed(2).padStart(8)} ms`;

async function main(): Promise<void> {
  tf.env().set('IS_TEST', true); // no "install the node backend" hint from the cpu reference runs
  await tf.setBackend('wasm');
  registerWasmTrainingKernels();
  const keep: tf.Tensor[] = [];
  const hold = <T extends tf.Tensor>(t: T): T => {
    keep.push(t);
    return t;
  };

  // Shapes of a small attention-LSTM: batch 32, input 1280 (embedding + context), 4 x 256 gates.
  const x = hold(rand([32, 1280]));
  const w = hold(rand([1280, 1024]));
  const dy = hold(rand([32, 1024]));
  const mm: WasmTrainingKernel[] = ['BatchMatMul'];
  await compare('matMul x[32,1280] w[1280,1024] (plain, untouched)', mm, () => tf.matMul(x, w));
  await compare('matMul dW = x^T dy  (transposeA)', mm, () => tf.matMul(x, dy, true, false));
  await compare('matMul dX = dy w^T  (transposeB)', mm, () => tf.matMul(dy, w, false, true));
  const feats = hold(rand([32, 64, 256]));
  const proj = hold(rand([256, 128]));
  const dProj = hold(rand([32, 64, 128]));
  await compare('attention projection [32,64,256] x [256,128]', mm, () => tf.matMul(feats, proj));
  await compare('its input grad [32,64,128] x [256,128]^T', mm, () => tf.matMul(dProj, proj, false, true));
  await compare('batched scores [32,64,256] x [32,64,256]^T (stock path)', mm, () => tf.matMul(feats, feats, false, true));
  const alpha = hold(rand([32, 1, 64]));
  const dContext = hold(rand([32, 1, 512]));
  await compare('context grad alpha^T dy [32,1,64]^T x [32,1,512]', mm, () => tf.matMul(alpha, dContext, true, false));
  const act = hold(rand([2048, 128]));
  const dScores = hold(rand([2048, 1]));
  await compare('score kernel grad act^T de [2048,128]^T x [2048,1]', mm, () => tf.matMul(act, dScores, true, false));

  const big = hold(rand([32, 32, 32, 64]));
  await compare('Identity (tf.clone) of [32,32,32,64], call only', ['Identity'], () => tf.clone(big), { read: false, repeats: 41 });

    const cw = hold(rand([3, 3, 32, 64]));
  const cdy = hold(rand([8, 64, 64, 64]));
  await compare('Conv2DBackpropInput [8,64,64,32] k3x3x32x64 s1 same', ['Conv2DBackpropInput'], () =>
    tf.conv2dTranspose(cdy as tf.Tensor4D, cw as tf.Tensor4D, [8, 64, 64, 32], 1, 'same'), { repeats: 5 });
  const pooled = hold(rand([16, 32, 32, 64]));
  const poolIn = hold(rand([16, 64, 64, 64]));
  await compare('(reference) avgPool 2x2 s2 forward [16,64,64,64]', [], () => tf.avgPool(poolIn as tf.Tensor4D, 2, 2, 'valid'));
  await compare('AvgPoolGrad 2x2 s2 [16,64,64,64]', ['AvgPoolGrad'], () =>
    tf.engine().runKernel('AvgPoolGrad', { dy: pooled, input: poolIn }, { filterSize: 2, strides: 2, pad: 'valid' }) as tf.Tensor);

  const filterGrad = (xs: number[], k: number[], stride: number) => (): tf.Tensor =>
    tf.tidy(() => {
      const xx = tf.ones(xs);
      const outH = Math.ceil((xs[1] as number) / stride);
      const d = tf.ones([xs[0] as number, outH, outH, k[3] as number]);
      return tf.engine().runKernel('Conv2DBackpropFilter', { x: xx, dy: d }, {
        strides: [stride, stride], pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: k,
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
    });
  await compareWithCpu('Conv2DBackpropFilter [2,32,32,32]->[3,3,32,64] s1 same', filterGrad([2, 32, 32, 32], [3, 3, 32, 64], 1), 1);
  await compareWithCpu('Conv2DBackpropFilter [2,32,32,32]->[3,3,32,64] s2 same', filterGrad([2, 32, 32, 32], [3, 3, 32, 64], 2), 1);

  const segmentSum = (): tf.Tensor =>
    tf.tidy(() => tf.unsortedSegmentSum(tf.ones([32 * 20, 128]), tf.randomUniformInt([32 * 20], 0, 500), 500));
  await compareWithCpu('UnsortedSegmentSum 640 rows x 128 into 500 (embedding grad)', segmentSum, 1);

  // A training step of a small conv + LSTM-like model: speed-ups off vs on (the kernels wasm
  // lacks stay registered in both, or the step could not run at all).
  const speedUps: WasmTrainingKernel[] = ['BatchMatMul', 'Identity', 'Conv2DBackpropInput', 'AvgPoolGrad'];
  const step = makeTrainingStep();
  await compare('training step (4 convs, 8 recurrent steps, embedding), B=16', speedUps, step, { repeats: 5 });
  // Each speed-up alone, the others on: an override is kept only if the step gets faster.
  for (const kernel of speedUps) await compare(`  the same step, only ${kernel} toggled`, [kernel], step, { repeats: 5 });
  // Wall time above swings with the load of a shared machine; tf.profile's per-kernel time
  // attributes the step's cost to each kernel directly.
  unregisterWasmTrainingKernels(speedUps);
  const stockProfile = await kernelMsPerStep(step);
  registerWasmTrainingKernels(speedUps);
  const ourProfile = await kernelMsPerStep(step);
  for (const kernel of speedUps) {
    const calls = Math.round(ourProfile.get(kernel)?.calls ?? 0);
    report(`  kernel time per step (tf.profile): ${kernel} x${calls}`, 'stock', stockProfile.get(kernel)?.ms ?? 0, ourProfile.get(kernel)?.ms ?? 0);
  }
  tf.dispose(keep);
}

/** Mean kernel time and calls per step, by kernel name, over 3 profiled steps after a warm-up. */
async function kernelMsPerStep(step: () => tf.Tensor): Promise<Map<string, { calls: number; ms: number }>> {
  step().dispose();
  const totals = new Map<string, { calls: number; ms: number }>();
  const runs = 3;
  for (let r = 0; r < runs; r++) {
    const profile = await tf.profile(() => step());
    for (const k of profile.kernels) {
      const entry = totals.get(k.name) ?? { calls: 0, ms: 0 };
      entry.calls += 1 / runs;
      entry.ms += Number(k.kernelTimeMs) / runs;
      totals.set(k.name, entry);
    }
  }
  return totals;
}

function makeTrainingStep(): () => tf.Tensor {
  const filters = [
    [3, 3, 3, 32],
    [3, 3, 32, 64],
    [3, 3, 64, 64],
    [3, 3, 64, 128],
  ].map((s) => tf.variable(tf.randomNormal(s, 0, 0.1)));
  const embed = tf.variable(tf.randomNormal([500, 128], 0, 0.1));
  const kernel = tf.variable(tf.randomNormal([128 + 128 + 256, 1024], 0, 0.05));
  const images = tf.randomUniform([16, 64, 64, 3]);
  const words = tf.randomUniformInt([8, 16], 0, 500);
  return () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        let h: tf.Tensor4D = images as tf.Tensor4D;
        filters.forEach((f, i) => {
          h = tf.conv2d(h, f as tf.Variable<tf.Rank.R4>, 1, 'same').relu();
          if (i < 3) h = tf.avgPool(h, 2, 2, 'valid');
        });
        const feats = h.reshape([16, 64, 128]);
        const ctx = feats.mean(1);
        let state = tf.zeros([16, 256]);
        let loss = tf.scalar(0);
        for (let t = 0; t < 8; t++) {
          const e = tf.gather(embed, words.slice([t, 0], [1, 16]).reshape([16]));
          const z = tf.matMul(tf.concat([e, ctx, state], 1), kernel);
          state = z.slice([0, 0], [16, 256]).sigmoid().mul(z.slice([0, 256], [16, 256]).relu());
          const scores = tf.matMul(feats, state.slice([0, 0], [16, 128]).expandDims(2));
          const alpha = tf.softmax(scores.reshape([16, 64])).reshape([16, 1, 64]);
          const context = tf.matMul(alpha, feats);
          loss = loss.add(context.square().mean()).add(state.square().mean());
        }
        return loss as tf.Scalar;
      });
      tf.dispose(Object.values(grads));
      return value;
    });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
