/**
 * How far a model's caption of a scene with twins (two or three objects of one colour and shape) is from
 * annotator 0's, which groups them ("there are two red squares and a red triangle"): the model's
 * log-probability of that caption, fed word by word from <start>, against the log-probability of the
 * beam's own choice (beam 4, no re-ranking). Prints a few scenes and the gap's quartiles. The sixteenth
 * round of models/default/README.md found the grouped caption ~9 nats behind a blend no annotator says.
 *
 * Run: npx tsx pipelines/bench/twin-captions.ts --model DIR --data DIR [--split test] [--show 6]
 * (--data: a synthetic set, from `captioner synth`; its scenes' objects give annotator 0's caption).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/backend/index.js';
import { generateCaptions, loadKarpathy } from '../../src/data/index.js';
import type { Split } from '../../src/data/types.js';
import { beamSearch, encodeImages, loadCaptioner } from '../../src/model/index.js';
import { sampleCaptions } from '../../src/model/sample-captions.js';
import { imageLoader } from '../train-data.js';

const { values: args } = parseArgs({
  options: { model: { type: 'string' }, data: { type: 'string' }, split: { type: 'string', default: 'test' }, show: { type: 'string', default: '6' } },
});
if (!args.model || !args.data) throw new RangeError('--model DIR and --data DIR (a synthetic set) are required');
const show = Number(args.show);

await initBackend();
const dataset = await loadKarpathy(`${args.data}/dataset.json`, `${args.data}/images`);
const captioner = await loadCaptioner(args.model);
const { model, vocab } = captioner;
const load = imageLoader(captioner.preprocess, false);
// Annotator 0 names a group "two red squares" (or with a size); that is what a twin scene's caption must say.
const grouped = /\b(two|three) (red|yellow|green|blue|purple|orange|pink|small|large)\b/;
const scenes = dataset.images.filter((im) => im.split === (args.split as Split) && im.objects && grouped.test(generateCaptions(im.objects, im.width ?? 64)[0]!.join(' ')));
if (scenes.length === 0) throw new RangeError(`${args.data}: no ${args.split} scenes with twins (or no scene objects: pass a synthetic set)`);

const gaps: number[] = [];
for (const [i, im] of scenes.entries()) {
  const features = encodeImages(model, [await load(im)]);
  try {
    const annotator0 = generateCaptions(im.objects!, im.width ?? 64)[0]!;
    const [own] = await beamSearch(model, features, vocab, { beamSize: 4, maxSteps: 50, detectorRerank: 0, learnedRerank: false });
    const prefix = [...annotator0.map((w) => vocab.idOf(w)), vocab.endId];
    const fed = (await sampleCaptions(model, features, vocab, { samples: 1, temperature: 0, maxSteps: prefix.length, prefix, rng: () => 0 }))[0]![0]!;
    gaps.push(own!.best.logProb - fed.logProb);
    if (i < show) console.log(`${own!.caption} (${own!.best.logProb.toFixed(2)})  |  annotator 0: ${annotator0.join(' ')} (${fed.logProb.toFixed(2)})`);
  } finally {
    features.dispose();
  }
}
gaps.sort((a, b) => a - b);
const q = (f: number): string => gaps[Math.round(f * (gaps.length - 1))]!.toFixed(2);
const ahead = gaps.filter((g) => g < 0).length;
console.log(`${scenes.length} ${args.split} scenes with twins; annotator 0's caption scores above the beam's choice on ${ahead}; gap (beam - annotator 0, nats): median ${q(0.5)}, quartiles ${q(0.25)} / ${q(0.75)}, range ${q(0)} .. ${q(1)}`);
console.log(`(${tf.getBackend()}; ${model.config.vocabSize} words, ${vocab.styleCount} annotator style(s))`);
