import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { ShowAttendTell, Trainer, referenceModelConfig } from '../../src/model/index.js';
await initBackend('wasm');
const V = 9490, B = 32, T = 14;
const m = ShowAttendTell.create(referenceModelConfig(V), { seed: 1 });
const tr = new Trainer(m, { decoderLr: 4e-4, encoderLr: 1e-4, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1 });
const f = tf.randomUniform([B, 196, 2048]) as tf.Tensor3D;
const captions = new Int32Array(B * T).fill(5); const lengths = new Int32Array(B).fill(T);
await tr.stepOnFeatures(f, { batchSize: B, captions, lengths });
const p = await tf.profile(async () => { await tr.stepOnFeatures(f, { batchSize: B, captions, lengths }); });
const agg = new Map<string, [number, number]>();
for (const x of p.kernels) { const key = x.name === 'BatchMatMul' ? `BMM ${JSON.stringify(x.inputShapes)}` : x.name; const a = agg.get(key) ?? [0, 0]; a[0] += (x.kernelTimeMs as number) || 0; a[1]++; agg.set(key, a); }
console.log([...agg.entries()].sort((a, b) => b[1][0] - a[1][0]).slice(0, 22).map(([n, [ms, c]]) => `${n} ${ms.toFixed(0)}ms x${c}`).join('\n'));
