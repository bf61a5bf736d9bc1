/**
 * Imports a PyTorch checkpoint and compares what it computes with PyTorch's own outputs (the
 * outputs.json / outputs.bin that test/fixtures/pytorch/make_fixtures.py or
 * pipelines/bench/pytorch_full_size.py wrote): encoder features, teacher-forced logits and
 * attention, and the bare beam search's captions, scores and attention at each k. Prints figures;
 * asserts nothing (the CI tests do, on the small fixtures).
 *
 *   npx tsx pipelines/bench/compare-pytorch.ts --dir /tmp/sat-full [--checkpoint FILE] [--word-map FILE]
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { currentBackend, initBackend } from '../../src/backend/index.js';
import { prepareImage } from '../../src/data/preprocess.js';
import { beamSearch } from '../../src/decoding/index.js';
import { importCheckpoint } from '../../src/interop/import-checkpoint.js';
import { attendPrecompute, decoderStep, initialState, outputLogits } from '../../src/model/decoder.js';

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const dir = path.resolve(arg('--dir') ?? 'test/fixtures/pytorch');
const fixtures = path.resolve('test/fixtures/pytorch');

interface Outputs {
  word_map: string;
  checkpoint?: string;
  images: Record<string, string>;
  captions: Record<string, Record<string, { ids: number[]; score: number; finished: boolean } | number[]>>;
  tensors: Record<string, { offset: number; shape: number[] }>;
}
const meta = JSON.parse(readFileSync(path.join(dir, 'outputs.json'), 'utf8')) as Outputs;
const bin = readFileSync(path.join(dir, 'outputs.bin'));
const tensor = (name: string): Float32Array => {
  const t = meta.tensors[name]!;
  const n = t.shape.reduce((a, b) => a * b, 1);
  return new Float32Array(new Uint8Array(bin.subarray(t.offset, t.offset + n * 4)).buffer);
};
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    s = Math.max(s, Math.abs(b[i]!));
  }
  return { d, s };
};
const e = (x: number) => x.toExponential(2);

await initBackend((process.env.CAPTIONER_BACKEND as 'wasm' | undefined) ?? 'wasm');
const checkpoint = arg('--checkpoint') ?? path.join(dir, meta.checkpoint ?? 'checkpoint_tiny_legacy.pth.tar');
const wordMap = arg('--word-map') ?? path.join(dir, meta.word_map);
let t0 = performance.now();
const imported = await importCheckpoint(checkpoint, wordMap);
console.log(`backend ${currentBackend()?.name ?? tf.getBackend()}; imported ${path.basename(checkpoint)} in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(imported.model.config.encoder)}, vocabulary ${imported.vocab.size}`);
const { model, vocab, preprocess } = imported;
const worst = { features: 0, logits: 0, alphaTeacher: 0, score: 0, scoreRel: 0, alphaBeam: 0, captionsSame: 0, captions: 0 };
for (const name of Object.keys(meta.images)) {
  const img = await prepareImage(path.join(fixtures, name), preprocess);
  const x = tf.tensor4d(img.pixels, [1, img.size, img.size, 3]);
  t0 = performance.now();
  const feats = model.encode(x);
  const f = maxAbs(await feats.data(), tensor(`${name}/features`));
  const encodeMs = performance.now() - t0;
  const ids = meta.captions[name]!['teacher_ids'] as number[];
  const [logits, alphas] = tf.tidy(() => {
    const w = model.decoder;
    const ctx = attendPrecompute(w, feats);
    let { h, c } = initialState(w, feats, 'mean');
    const ls: tf.Tensor[] = [];
    const as: tf.Tensor[] = [];
    for (let t = 0; t < ids.length - 1; t++) {
      const out = decoderStep(w, ctx, tf.gather(w.embedding, tf.tensor1d([ids[t]!], 'int32')) as tf.Tensor2D, h, c, 'relu');
      ({ h, c } = out);
      ls.push(outputLogits(w, out.h, out.context, 0, false));
      as.push(out.alpha);
    }
    return [tf.concat(ls), tf.concat(as)];
  });
  const l = maxAbs(await logits.data(), tensor(`${name}/teacher_logits`));
  const a = maxAbs(await alphas.data(), tensor(`${name}/teacher_alphas`));
  worst.features = Math.max(worst.features, f.d / f.s);
  worst.logits = Math.max(worst.logits, l.d);
  worst.alphaTeacher = Math.max(worst.alphaTeacher, a.d);
  const beams: string[] = [];
  for (const key of Object.keys(meta.captions[name]!).filter((k) => /^k\d+_cap\d+$/.test(k))) {
    const [, k, cap] = /^k(\d+)_cap(\d+)$/.exec(key)!.map(Number) as [number, number, number];
    const want = meta.captions[name]![key] as { ids: number[]; score: number; finished: boolean };
    const [r] = await beamSearch(model, feats, vocab, { beamSize: k, maxSteps: cap + 1 });
    const best = r!.best;
    const same = best.ids.length === want.ids.length && best.ids.every((id, i) => id === want.ids[i]);
    const got = new Float32Array(best.attention.length * best.attention[0]!.length);
    best.attention.forEach((m, i) => got.set(m, i * m.length));
    const ab = same ? maxAbs(got, tensor(`${name}/${key}/alphas`)).d : NaN;
    worst.captions++;
    if (same) {
      worst.captionsSame++;
      worst.score = Math.max(worst.score, Math.abs(best.logProb - want.score));
      worst.scoreRel = Math.max(worst.scoreRel, Math.abs(best.logProb - want.score) / Math.max(1, Math.abs(want.score)));
      worst.alphaBeam = Math.max(worst.alphaBeam, ab);
    }
    beams.push(`k=${k} cap ${cap}: ${same ? 'same' : 'DIFFERENT'} (${want.ids.length} tokens, ${want.finished ? 'finished' : 'unfinished'}; score ${want.score.toFixed(4)} vs ${best.logProb.toFixed(4)}, attention ${e(ab)})`);
  }
  console.log(`${name}: features max|d| ${e(f.d)} (scale ${f.s.toFixed(3)}, relative ${e(f.d / f.s)}; encode ${encodeMs.toFixed(0)} ms); logits max|d| ${e(l.d)} (scale ${l.s.toFixed(2)}); teacher attention ${e(a.d)}\n  ${beams.join('\n  ')}`);
  tf.dispose([x, feats, logits, alphas]);
}
console.log(`worst: features ${e(worst.features)} relative; logits ${e(worst.logits)}; attention ${e(worst.alphaTeacher)} (teacher-forced), ${e(worst.alphaBeam)} (beams); beam captions identical ${worst.captionsSame}/${worst.captions}, scores max|d| ${e(worst.score)} (relative ${e(worst.scoreRel)})`);
model.dispose();
