/**
 * The full measurement of the default model (or any model directory) on a fresh-seed synthetic
 * test set: BLEU-1..4, CIDEr-D, content accuracy and attention hit rate (overall and per word class)
 * at the given beam sizes, beside a constant-caption baseline and one reference scored against the
 * other four.
 *
 * Run: npx tsx pipelines/bench/measure-default-model.ts [--model models/default] [--seed 7001]
 *        [--count 5000] [--beams 1,4] [--reranks 0,1] [--report FILE.json] [--data DIR]
 * --reranks lists detector re-ranking weights to measure at every beam size above 1 (at beam 1 there is
 * one finished caption, so nothing to re-rank); the default is the model's own weight alone.
 * The test split of a generated set is 10% of --count (5000 -> 500 images). The seed must never have
 * been used for training or for choosing the recipe (models/default/README.md and
 * docs/research-history.md list those).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { initBackend } from '../../src/backend/index.js';
import { generateSynthetic, loadKarpathy } from '../../src/data/index.js';
import { loadCaptioner } from '../../src/decoding/index.js';
import { writeFileAtomic } from '../../src/io/write-file-atomic.js';
import { captionBaselines } from '../caption-baselines.js';
import { evaluate, type EvaluationReport } from '../evaluate.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: join('models', 'default') },
    seed: { type: 'string', default: '7001' },
    count: { type: 'string', default: '5000' },
    beams: { type: 'string', default: '1,4' },
    reranks: { type: 'string', default: '' },
    report: { type: 'string', default: '' },
    data: { type: 'string', default: '' },
  },
});
const modelDir = resolve(args.model);
const seed = Number(args.seed);
const count = Number(args.count);
const beams = args.beams.split(',').map(Number);
const reranks: Array<number | undefined> = args.reranks ? args.reranks.split(',').map(Number) : [undefined];
if (!Number.isInteger(seed) || !(count > 0) || !beams.every((b) => Number.isInteger(b) && b >= 1) || !reranks.every((w) => w === undefined || w >= 0)) {
  throw new RangeError(`expected an integer --seed, a positive --count, positive integer --beams and --reranks >= 0 (got ${args.seed}, ${args.count}, ${args.beams}, ${args.reranks})`);
}
const reportPath = args.report;
const givenData = args.data;
// A given --data set is named by its directory: --seed then says nothing about it.
const dataName = givenData ? resolve(givenData) : `synthetic seed ${seed}`;

const backend = await initBackend();
const tmp = await mkdtemp(join(tmpdir(), 'measure-default-'));
try {
  const dataDir = givenData ? resolve(givenData) : join(tmp, 'data');
  if (!givenData) {
    const t = performance.now();
    await generateSynthetic({ outDir: dataDir, count, seed });
    console.error(`synthesised ${count} scenes (seed ${seed}) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const dataset = await loadKarpathy(join(dataDir, 'dataset.json'), join(dataDir, 'images'));
  const test = dataset.images.filter((im) => im.split === 'test');
  const baselines = captionBaselines(test, dataset.images.filter((im) => im.split !== 'test'));
  const captioner = await loadCaptioner(modelDir);
  const reports: EvaluationReport[] = [];
  try {
    for (const beamSize of beams) {
      for (const detectorRerank of beamSize > 1 ? reranks : [undefined]) {
        const r = await evaluate({ captioner, dataset: { ...dataset, name: dataName }, split: 'test', beamSize, detectorRerank, backend: backend.name });
        reports.push(r);
        console.error(`beam ${beamSize}, detector re-ranking ${r.detectorRerank}: ${r.images} images in ${(r.durationMs / 1000).toFixed(1)} s`);
      }
    }
  } finally {
    captioner.dispose();
  }

  const pct = (x: number) => (100 * x).toFixed(1);
  const lines = [
    `| | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D | content acc. | complete + correct | objects named | hit rate (shape / colour) |`,
    `|---|---|---|---|---|---|---|---|---|---|`,
    ...reports.map((r) => {
      const a = r.attention!;
      const rerank = r.beamSize > 1 ? `, re-ranking ${r.detectorRerank}` : '';
      return `| model, beam ${r.beamSize}${rerank} | ${pct(r.bleu.bleu1)} | ${pct(r.bleu.bleu2)} | ${pct(r.bleu.bleu3)} | ${pct(r.bleu.bleu4)} | ${r.ciderD.toFixed(3)} | ${pct(r.content!.accuracy)} | ${pct(r.content!.completeAccuracy)} | ${pct(r.content!.objectCoverage)} | ${pct(a.rate)} (${pct(a.perClass.shape?.rate ?? 0)} / ${pct(a.perClass.color?.rate ?? 0)}) |`;
    }),
    `| constant caption "${baselines.constantCaption}" | ${pct(baselines.constant.bleu.bleu1)} | ${pct(baselines.constant.bleu.bleu2)} | ${pct(baselines.constant.bleu.bleu3)} | ${pct(baselines.constant.bleu.bleu4)} | ${baselines.constant.ciderD.toFixed(3)} | | | | |`,
    `| one reference vs the other four | ${pct(baselines.oneVsRest.bleu.bleu1)} | ${pct(baselines.oneVsRest.bleu.bleu2)} | ${pct(baselines.oneVsRest.bleu.bleu3)} | ${pct(baselines.oneVsRest.bleu.bleu4)} | ${baselines.oneVsRest.ciderD.toFixed(3)} | | | | |`,
  ];
  console.log(`model ${reports[0]?.modelId} (${modelDir}) on ${test.length} test images of ${dataName}, backend ${backend.name}`);
  console.log(lines.join('\n'));
  if (reportPath) {
    const full = { model: modelDir, ...(givenData ? { data: dataName } : { seed, count }), testImages: test.length, backend: backend.name, baselines, reports, measuredAt: new Date().toISOString() };
    await writeFileAtomic(resolve(reportPath), JSON.stringify(full, null, 2) + '\n');
    console.error(`report: ${resolve(reportPath)}`);
  }
} finally {
  await rm(tmp, { recursive: true, force: true });
}
