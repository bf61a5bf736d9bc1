import * as tf from '@tensorflow/tfjs';
import { initBackend, unregisterWasmTrainingKernels, registerWasmTrainingKernels } from '../../src/backend/index.js';
await initBackend('wasm');
async function med(f: () => tf.Tensor, n = 11) { const ts: number[] = []; for (let i = 0; i < n + 2; i++) { const s = performance.now(); const t = f(); await t.data(); t.dispose(); if (i >= 2) ts.push(performance.now() - s); } ts.sort((a, b) => a - b); return ts[Math.floor(ts.length / 2)]!.toFixed(2); }
const cases: [string, number[], number[], boolean, boolean][] = [
  ['dX lstm', [32, 1024], [480, 1024], false, true],
  ['dW lstm', [32, 480], [32, 1024], true, false],
  ['dW att1', [2048, 128], [2048, 128], true, false],
  ['dX att1', [2048, 128], [128, 128], false, true],
  ['transA N=2', [2048, 128], [2048, 2], true, false],
  ['transA N=4', [2048, 128], [2048, 4], true, false],
  ['transA N=16', [2048, 128], [2048, 16], true, false],
  ['transB M=2', [2, 1024], [480, 1024], false, true],
  ['transB M=4', [4, 1024], [480, 1024], false, true],
  ['transB M=16', [16, 1024], [480, 1024], false, true],
];
for (const [name, as, bs, ta, tb] of cases) {
  const a = tf.randomUniform(as); const b = tf.randomUniform(bs);
  registerWasmTrainingKernels(['BatchMatMul']); const o = await med(() => tf.matMul(a, b, ta, tb));
  unregisterWasmTrainingKernels(['BatchMatMul']); const s = await med(() => tf.matMul(a, b, ta, tb));
  registerWasmTrainingKernels(['BatchMatMul']); const o2 = await med(() => tf.matMul(a, b, ta, tb));
  unregisterWasmTrainingKernels(['BatchMatMul']); const s2 = await med(() => tf.matMul(a, b, ta, tb));
  console.log(name.padEnd(12), 'stock', s, s2, 'ours', o, o2);
  tf.dispose([a, b]);
}
