/**
 * Where a 16-step greedy batch spends its time at the reference sizes (14x14x2048, 512/512/512,
 * V 9490, batch 32): wall time of beamSearch with beam 1 against the kernels tf.profile records
 * (their summed time, the top kernels), so the rest is host work: syncs, JS per row, allocations.
 *
 * Run: CAPTIONER_BACKEND=node npx tsx pipelines/bench/profile-greedy.ts [--runs 5] [--top 8]
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { Vocabulary } from '../../src/data/vocabulary.js';
import { beamSearch } from '../../src/decoding/beam-search.js';
import { ShowAttendTell, referenceModelConfig } from '../../src/model/index.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' }, top: { type: 'string', default: '8' }, beam: { type: 'string', default: '1' } } });
const runs = Number(args.runs);
const beamSize = Number(args.beam);
const info = await initBackend();
const config = referenceModelConfig(9490);
const vocab = Vocabulary.fromJSON({ formatVersion: 1, words: ['<pad>', ...Array.from({ length: config.vocabSize - 4 }, (_, i) => `w${i}`), '<unk>', '<start>', '<end>'] });
const model = ShowAttendTell.create(config, { seed: 2 });
// <end> pushed far down: every caption runs the full 16 steps.
tf.tidy(() => {
  const bias = model.decoder.fcBias.arraySync() as number[];
  bias[vocab.endId] = -1e4;
  model.decoder.fcBias.assign(tf.tensor1d(bias));
});
const features = tf.randomUniform([32, 196, 2048], 0, 1, 'float32', 2) as tf.Tensor3D;
const search = () => beamSearch(model, features, vocab, { beamSize, maxSteps: 16 });
await search();
const wall: number[] = [];
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  await search();
  wall.push(performance.now() - t);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const t0 = performance.now();
const profile = await tf.profile(async () => {
  await search();
  return [];
});
const profiledWall = performance.now() - t0;
const byKernel = new Map<string, { ms: number; calls: number }>();
for (const k of profile.kernels) {
  const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  e.calls++;
  byKernel.set(k.name, e);
}
const kernelMs = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
console.log(`${info.name}: batch 32, beam ${beamSize}, 16 steps: median ${median(wall).toFixed(0)} ms (${((32 * 1000) / median(wall)).toFixed(1)} images/s) over ${runs} runs [${wall.map((x) => x.toFixed(0)).join(', ')}]`);
console.log(`profiled run ${profiledWall.toFixed(0)} ms: kernels ${kernelMs.toFixed(0)} ms in ${profile.kernels.length} calls (${(profile.kernels.length / 16).toFixed(0)} per step), the rest ${(profiledWall - kernelMs).toFixed(0)} ms host work`);
for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(args.top))) {
  console.log(`  ${name.padEnd(22)} ${e.ms.toFixed(1).padStart(8)} ms  ${String(e.calls).padStart(4)} calls`);
}
features.dispose();
model.dispose();
