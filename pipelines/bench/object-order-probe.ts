/**
 * What the order and size guidance of beam search (src/model/object-order.ts) can know: on a synthetic
 * set's scenes, how often the phrase detector orders two objects of different kinds as their centres'
 * x does, by how far apart the centres are, placing each object by its blob's own cells (phraseBlobs)
 * and by the 3x3 cells around the blob's peak (objectCentreX); and, for twins of two sizes, how often
 * objectSize tells the large one. The boxes only score the detector: nothing here reaches a model.
 * The eighteenth round of models/default/README.md quotes its figures.
 *
 * Run: npx tsx pipelines/bench/object-order-probe.ts --model DIR --data DIR [--split test]
 * (--data: a synthetic set, from `captioner synth`; the model needs a phrase detector with twin marks).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { loadKarpathy } from '../../src/data/index.js';
import type { SceneObject, Split } from '../../src/data/types.js';
import { blobCells, encodeImages, loadCaptioner, objectCentreX, objectSize, phraseBlobs, phraseIndex } from '../../src/model/index.js';
import { phraseLogits } from '../../src/model/loss.js';
import { imageLoader } from '../train-data.js';

const { values: args } = parseArgs({ options: { model: { type: 'string' }, data: { type: 'string' }, split: { type: 'string', default: 'test' } } });
if (!args.model || !args.data) throw new RangeError('--model DIR and --data DIR (a synthetic set) are required');

await initBackend();
const dataset = await loadKarpathy(`${args.data}/dataset.json`, `${args.data}/images`);
const { model, vocab, preprocess } = await loadCaptioner(args.model);
const { gridSize: grid, phrases = [] } = model.config;
if (phrases.length === 0) throw new RangeError(`${args.model}: the model has no phrase detector (config.phrases)`);
const n = phrases.length;
const find = phraseIndex(phrases);
const images = dataset.images.filter((im) => im.split === (args.split as Split) && im.objects);
const load = imageLoader(preprocess, false);

const BUCKETS = [0, 2, 4, 6, 8, 10];
const bucket = (dx: number) => BUCKETS.filter((b) => dx >= b).length - 1;
const tally = { blob: BUCKETS.map(() => [0, 0]), around: BUCKETS.map(() => [0, 0]) };
const sizes = { right: 0, wrong: 0, untold: 0 };

for (let i = 0; i < images.length; i += 50) {
  const batch = images.slice(i, i + 50);
  const features = encodeImages(model, await Promise.all(batch.map(load)));
  const cells = tf.tidy(() => tf.sigmoid(phraseLogits(model, features)).dataSync() as Float32Array);
  features.dispose();
  batch.forEach((im, j) => {
    const c = cells.subarray(j * grid * grid * n, (j + 1) * grid * grid * n);
    const blobs = phraseBlobs(c, grid, n);
    const objects = im.objects!;
    // Centre x in pixels: the distances below are in the image's own pixels.
    const centre = (o: SceneObject) => o.box.x + o.box.w / 2;
    const kindOf = (o: SceneObject) => find(vocab.idOf(o.color), vocab.idOf(o.shape));
    const alone = objects.filter((o) => objects.filter((p) => p.color === o.color && p.shape === o.shape).length === 1);
    // One object per kind: its kind's largest blob, by either placing.
    const placed = alone.flatMap((o) => {
      const q = kindOf(o);
      const found = q === undefined ? [] : blobCells(c, grid, n, q);
      if (q === undefined || found.length === 0) return [];
      const largest = found.reduce((a, b) => (b.length > a.length ? b : a));
      const own = blobs[q]!.reduce((a, b) => (b.cells > a.cells ? b : a));
      return [{ x: centre(o), blob: own.x, around: objectCentreX(c, grid, n, q, largest) }];
    });
    for (let a = 0; a < placed.length; a++) {
      for (let b = a + 1; b < placed.length; b++) {
        const [p, r] = [placed[a]!, placed[b]!];
        const k = bucket(Math.abs(p.x - r.x));
        for (const way of ['blob', 'around'] as const) tally[way][k]![Math.sign(p[way] - r[way]) === Math.sign(p.x - r.x) ? 0 : 1]!++;
      }
    }
    // Twins of two sizes: does objectSize put the large one above the small one?
    const [large, small] = [vocab.idOf('large'), vocab.idOf('small')];
    for (const o of objects) {
      const twin = objects.find((p) => p !== o && p.color === o.color && p.shape === o.shape && p.size !== o.size);
      if (!twin || o.size !== 'large' || objects.filter((p) => p.color === o.color && p.shape === o.shape).length !== 2) continue;
      const [q, ql, qs] = [kindOf(o), find(large, vocab.idOf(o.color)), find(small, vocab.idOf(o.color))];
      const found = q === undefined ? [] : blobCells(c, grid, n, q);
      if (q === undefined || ql === undefined || qs === undefined || found.length !== 2) {
        sizes.untold++;
        continue;
      }
      const [left, right] = found.map((m) => ({ x: objectCentreX(c, grid, n, q, m), size: objectSize(c, grid, n, q, m, ql, qs) })).sort((a, b) => a.x - b.x);
      const largeIsLeft = centre(o) < centre(twin);
      sizes[(left!.size > right!.size) === largeIsLeft ? 'right' : 'wrong']++;
    }
  });
}

console.log(`${args.model} on ${args.data} (${args.split}, ${images.length} scenes): pairs of objects of different kinds ordered as their centres' x`);
console.log('centres apart | blob cells | 3x3 around the peak');
BUCKETS.forEach((b, k) => {
  const label = k + 1 < BUCKETS.length ? `${b}-${BUCKETS[k + 1]} px` : `${b}+ px`;
  const show = ([ok, bad]: number[]) => `${ok} / ${ok! + bad!}`;
  console.log(`${label.padEnd(13)} | ${show(tally.blob[k]!).padEnd(10)} | ${show(tally.around[k]!)}`);
});
console.log(`twins of two sizes: the large one told in ${sizes.right} of ${sizes.right + sizes.wrong} pairs (${sizes.untold} without two blobs or size phrases)`);
