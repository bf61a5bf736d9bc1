/**
 * How much of the gap to a perfect BLEU-4 is ranking and how much is search: on a data set's test
 * split, corpus BLEU-4 of the caption the model chooses (beam k, its own re-ranking), then of the
 * best of the beam's finished captions by their own best-reference BLEU-4 (an oracle: it reads the
 * references), then of the best of those plus the greedy completions of the commonest caption
 * openings of the training references (the oracle again). A large first gap says a better ranking of
 * what the beam already found would pay; a large second one says the beam does not find it.
 *
 * Run: npx tsx pipelines/bench/ranking-headroom.ts --data DIR [--model models/default] [--beam 4]
 *        [--openings 6] [--limit 500]
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../../src/backend/index.js';
import { loadKarpathy } from '../../src/data/index.js';
import { corpusBleu } from '../../src/metrics/bleu.js';
import { beamSearch, commonOpenings, encodeImages, loadCheckpoint, sampleCaptions } from '../../src/model/index.js';
import { bestReferenceBleu4 } from '../../src/model/self-critical.js';
import { packageRoot } from '../../src/cli/package-root.js';
import { imageLoader } from '../train-data.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string' },
    model: { type: 'string', default: join(packageRoot(), 'models', 'default') },
    beam: { type: 'string', default: '4' },
    openings: { type: 'string', default: '6' },
    limit: { type: 'string', default: '500' },
  },
});
const usage = (message: string): never => {
  console.error(`ranking-headroom: ${message}`);
  process.exit(1);
};
if (!args.data) usage('pass --data DIR (a data set with a test split, e.g. from `captioner synth --seed N`)');
const beam = Number(args.beam);
const openingCount = Number(args.openings);
const limit = Number(args.limit);
if (![beam, limit].every((n) => Number.isInteger(n) && n >= 1) || !(Number.isInteger(openingCount) && openingCount >= 0)) {
  usage(`expected integers --beam >= 1, --limit >= 1 and --openings >= 0 (got ${args.beam}, ${args.limit}, ${args.openings})`);
}

async function main(): Promise<void> {
  await initBackend();
  const dataDir = resolve(args.data!);
  const dataset = await loadKarpathy(join(dataDir, 'dataset.json'), join(dataDir, 'images'));
  const test = dataset.images.filter((im) => im.split === 'test' && im.captions.length > 0).slice(0, limit);
  if (test.length === 0) throw new RangeError(`${dataDir}: no test images with captions`);
  const { model, vocab, preprocess } = await loadCheckpoint(resolve(args.model));
  const openings = commonOpenings(dataset.images.filter((x) => x.split === 'train').flatMap((x) => x.captions), openingCount).filter((o) => o.every((w) => vocab.words.includes(w)));
  const load = imageLoader(preprocess, false);
  const chosen: string[][] = [];
  const beamOracle: string[][] = [];
  const poolOracle: string[][] = [];
  for (let i = 0; i < test.length; i += 50) {
    const part = test.slice(i, i + 50);
    const features = encodeImages(model, await Promise.all(part.map(load)));
    try {
      const results = await beamSearch(model, features, vocab, { beamSize: beam, maxSteps: 50, returnAlternatives: 4 * beam, learnedRerank: false });
      const completions = await Promise.all(
        openings.map((o) => sampleCaptions(model, features, vocab, { samples: 1, temperature: 0, maxSteps: 50, prefix: o.map((w) => vocab.idOf(w)), rng: () => 0 })),
      );
      results.forEach((r, j) => {
        const refs = part[j]!.captions;
        const best = (captions: string[][]) => captions.reduce((a, b) => (bestReferenceBleu4(b, refs) > bestReferenceBleu4(a, refs) ? b : a));
        // With nothing finished, the search's unfinished best is all there is.
        const finished = r.alternatives.filter((h) => h.finished).map((h) => h.words);
        const searched = finished.length > 0 ? finished : [r.best.words];
        const opened = completions.map((c) => c[j]![0]!).filter((c) => c.ids.at(-1) === vocab.endId).map((c) => vocab.decode(c.ids));
        chosen.push(r.best.words);
        beamOracle.push(best(searched));
        poolOracle.push(best([...searched, ...opened]));
      });
    } finally {
      features.dispose();
    }
  }
  model.dispose();
  const refs = test.map((im) => im.captions);
  const exact = (hyps: string[][]) => hyps.filter((h, i) => refs[i]!.some((r) => r.join(' ') === h.join(' '))).length;
  const row = (name: string, hyps: string[][]) => `${name.padEnd(46)} BLEU-4 ${corpusBleu(hyps, refs).bleu[3].toFixed(4)}  word for word a reference: ${exact(hyps)}/${hyps.length}`;
  console.log(`${test.length} test images of ${dataDir}, beam ${beam}; openings: ${openings.map((o) => `"${o.join(' ')}"`).join(', ') || 'none'}`);
  console.log(row("the model's choice", chosen));
  console.log(row("best of the beam's finished captions (oracle)", beamOracle));
  console.log(row('best of those and the openings (oracle)', poolOracle));
}

main().catch((e: unknown) => {
  // A wrong --data or --model is the user's to fix: its message, without the stack through tfjs.
  console.error(e instanceof Error ? `ranking-headroom: ${e.message}` : e);
  process.exitCode = 1;
});
