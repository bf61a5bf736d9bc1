/**
 * End-to-end captioning speed of an imported full-size PyTorch model (ResNet-101 + the reference
 * decoder, vocabulary 9490) against the reference's own PyTorch code on the same weights and images,
 * both printed here (PyTorch runs as a child process where Debian's /usr/bin/python3 has torch).
 * Ours: decode (sharp) -> encode -> beam search k = 4, in batches of 8 as the caption service
 * batches; PyTorch: caption.py's path, one image at a time. Medians of --runs passes after a warm-up.
 *
 *   /usr/bin/python3 pipelines/bench/pytorch_full_size.py /tmp/sat-full
 *   npx tsx pipelines/bench/bench-pytorch-import.ts --dir /tmp/sat-full [--runs 3] [--copies 2] [--batch 8]
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { currentBackend, initBackend } from '../../src/backend/index.js';
import { prepareImage, stackImages } from '../../src/data/preprocess.js';
import { captionFeatures } from '../../src/decoding/index.js';
import { importCheckpoint } from '../../src/interop/import-checkpoint.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const dir = path.resolve(arg('--dir', '/tmp/sat-full'));
const runs = Number(arg('--runs', '3'));
const copies = Number(arg('--copies', '2'));
const batch = Number(arg('--batch', '8'));
const k = 4;
const checkpoint = path.join(dir, 'BEST_checkpoint_full.pth.tar');
const wordMap = path.join(dir, 'WORDMAP_full.json');
const fixtures = path.resolve('test/fixtures/pytorch');
const images = Array.from({ length: copies }, () => ['street.png', 'beach.png', 'grey.png', 'alpha.png'].map((n) => path.join(fixtures, n))).flat();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await initBackend((process.env.CAPTIONER_BACKEND as 'wasm' | undefined) ?? 'wasm');
let t = performance.now();
const { model, vocab, preprocess } = await importCheckpoint(checkpoint, wordMap);
const importS = (performance.now() - t) / 1000;
const passes: { decode: number; encode: number; search: number; steps: number }[] = [];
for (let r = 0; r <= runs; r++) {
  const p = { decode: 0, encode: 0, search: 0, steps: 0 };
  for (let i = 0; i < images.length; i += batch) {
    const files = images.slice(i, i + batch);
    t = performance.now();
    const prepared = await Promise.all(files.map((f) => prepareImage(f, preprocess)));
    const x = tf.tensor4d(stackImages(prepared, preprocess.imageSize), [files.length, preprocess.imageSize, preprocess.imageSize, 3]);
    p.decode += performance.now() - t;
    t = performance.now();
    const feats = model.encode(x);
    await feats.data();
    p.encode += performance.now() - t;
    t = performance.now();
    const results = await captionFeatures(model, feats, vocab, { beamSize: k, maxSteps: 51 });
    p.search += performance.now() - t;
    p.steps += results.reduce((n, c) => n + c.best.ids.length, 0);
    tf.dispose([x, feats]);
  }
  if (r > 0) passes.push(p);
}
model.dispose();
const n = images.length;
const ours = {
  decode: median(passes.map((p) => p.decode)) / n / 1000,
  encode: median(passes.map((p) => p.encode)) / n / 1000,
  search: median(passes.map((p) => p.search)) / n / 1000,
  total: median(passes.map((p) => p.decode + p.encode + p.search)) / 1000,
  steps: passes[0]!.steps / n,
};
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
console.log(`ours (backend ${currentBackend()?.name ?? tf.getBackend()}, batch ${batch}, k ${k}): import ${importS.toFixed(1)} s; per image decode ${ms(ours.decode)}, encode ${ms(ours.encode)}, beam search ${ms(ours.search)} (${ours.steps.toFixed(1)} tokens); ${(n / ours.total).toFixed(2)} images/s end to end`);
let py: Record<string, number> | undefined;
try {
  const out = execFileSync('/usr/bin/python3', [path.resolve('pipelines/bench/pytorch_reference_speed.py'), checkpoint, wordMap, String(k), String(runs), ...images], { encoding: 'utf8', maxBuffer: 1 << 20 });
  py = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
} catch (err) {
  console.log(`PyTorch reference not run (${(err as Error).message.split('\n')[0]})`);
}
if (py) {
  console.log(`PyTorch ${String(py.torch)} (${py.threads} threads, one image at a time, k ${k}): torch.load ${py.load_s!.toFixed(1)} s; per image decode ${ms(py.decode_s_per_image!)}, encode ${ms(py.encode_s_per_image!)}, beam search ${ms(py.search_s_per_image!)} (${py.steps_per_image!.toFixed(1)} tokens); ${py.images_per_s!.toFixed(2)} images/s end to end (${py.images_per_s_as_written!.toFixed(2)} as caption.py runs it, encoding twice)`);
  console.log(`ratio ours / PyTorch: ${((n / ours.total) / py.images_per_s!).toFixed(2)} (encode ${(py.encode_s_per_image! / ours.encode).toFixed(2)}x, search ${(py.search_s_per_image! / ours.search).toFixed(2)}x, decode ${(py.decode_s_per_image! / ours.decode).toFixed(2)}x PyTorch's speed)`);
}
