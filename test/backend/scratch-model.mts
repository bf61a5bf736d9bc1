import * as tf from '@tensorflow/tfjs';
import { initBackend, unregisterWasmTrainingKernels, registerWasmTrainingKernels, type WasmTrainingKernel } from '../../src/backend/index.js';
import { defaultModelConfig, ShowAttendTell, Trainer } from '../../src/model/index.js';
await initBackend('wasm');
const model = ShowAttendTell.create(defaultModelConfig(), { seed: 1 });
const trainer = new Trainer(model, { decoderLr: 4e-4, encoderLr: 1e-4, alphaC: 1, clipValue: 5, clipNorm: 0, scheduledSampling: 0, seed: 1 });
const b = 32, s = 64, maxLen = 12;
const images = new Float32Array(b * s * s * 3).map(() => Math.random());
const captions = new Int32Array(b * (maxLen + 2)).map(() => 4 + Math.floor(Math.random() * 20));
const lengths = new Int32Array(b).fill(maxLen);
const batch = { batchSize: b, imageSize: s, maxLen, images, captions, lengths, ids: [] as string[] };
const speed: WasmTrainingKernel[] = ['BatchMatMul', 'Identity', 'Conv2DBackpropInput', 'AvgPoolGrad'];
try { await trainer.step(batch); } catch (e) { console.log('step failed', (e as Error).message); process.exit(1); }
const t: Record<string, number[]> = { stock: [], ours: [] };
for (let i = 0; i < 3; i++) for (const mode of ['stock', 'ours']) {
  if (mode === 'stock') unregisterWasmTrainingKernels(speed); else registerWasmTrainingKernels(speed);
  const st = performance.now(); await trainer.step(batch); t[mode]!.push(performance.now() - st);
}
const med = (x: number[]) => [...x].sort((a, c) => a - c)[Math.floor(x.length / 2)]!.toFixed(0);
console.log('model step B=32 64x64 maxLen 12: stock', med(t.stock!), 'ours', med(t.ours!), 'numTensors', tf.memory().numTensors, 'useOneHot', model.useOneHotEmbedding());
const agg = new Map<string, { n: number; ms: number }>();
const prof = await tf.profile(async () => { await trainer.step(batch); });
for (const k of prof.kernels) { const e = agg.get(k.name) ?? { n: 0, ms: 0 }; e.n++; e.ms += Number(k.kernelTimeMs); agg.set(k.name, e); }
console.log([...agg.entries()].sort((a, c) => c[1].ms - a[1].ms).slice(0, 18).map(([n, e]) => `${n} x${e.n} ${e.ms.toFixed(0)}ms`).join('\n'));
const byShape = new Map<string, { n: number; ms: number }>();
for (const k of prof.kernels) if (['BatchMatMul', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Conv2D'].includes(k.name)) {
  const key = `${k.name} ${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes)}`;
  const e = byShape.get(key) ?? { n: 0, ms: 0 }; e.n++; e.ms += Number(k.kernelTimeMs); byShape.set(key, e);
}
console.log([...byShape.entries()].sort((a, c) => c[1].ms - a[1].ms).slice(0, 20).map(([n, e]) => `${e.ms.toFixed(0)}ms x${e.n} ${n}`).join('\n'));
