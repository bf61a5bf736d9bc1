import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { Split } from '../../data/types.js';
import { loadCaptioner } from '../../decoding/index.js';
import { evaluate, type EvaluationReport } from '../../../pipelines/evaluate.js';
import { DEFAULT_MODEL_DIR, modelDirOrDefault } from '../default-model.js';
import { RERANK_HELP, int, loadData, positive, setupBackend, withBackend, withData, type DataOptions } from '../options.js';
import { action } from '../user-error.js';

const pct = (x: number) => (100 * x).toFixed(2);

/** The human-readable form of an evaluation report. */
export function formatReport(r: EvaluationReport): string {
  const lines = [
    `model ${r.modelId} on ${r.dataset} ${r.split} (${r.images} images, beam ${r.beamSize}${r.lengthPenalty ? `, length penalty ${r.lengthPenalty}` : ''}${r.detectorRerank ? `, detector re-ranking ${r.detectorRerank}` : ''}, ${r.backend}, ${r.imagesPerSec.toFixed(1)} images/s)`,
    `BLEU-1 ${pct(r.bleu.bleu1)}  BLEU-2 ${pct(r.bleu.bleu2)}  BLEU-3 ${pct(r.bleu.bleu3)}  BLEU-4 ${pct(r.bleu.bleu4)}  CIDEr-D ${pct(r.ciderD)}`,
    `captions: mean length ${r.captions.length.mean.toFixed(1)} words, ${r.captions.distinctWords} distinct words, unfinished beams ${pct(r.unfinishedFraction)}%`,
  ];
  if (r.content) {
    lines.push(`content accuracy ${pct(r.content.accuracy)}% (${r.content.correct}/${r.content.checked} captions entirely true of their scene)`);
    lines.push(`complete and correct ${pct(r.content.completeAccuracy)}% (true and naming every object); objects named ${pct(r.content.objectCoverage)}%`);
  }
  if (r.attention) lines.push(`attention hit rate ${pct(r.attention.rate)}% (${r.attention.hits}/${r.attention.total} shape and colour words looked at their object)`);
  if (r.baselines) {
    const b = r.baselines;
    lines.push(`baselines: constant caption "${b.constantCaption}" BLEU-4 ${pct(b.constant.bleu.bleu4)} CIDEr-D ${pct(b.constant.ciderD)}; one reference vs the others BLEU-4 ${pct(b.oneVsRest.bleu.bleu4)} CIDEr-D ${pct(b.oneVsRest.ciderD)}`);
  }
  if (r.skipped.length) lines.push(`skipped ${r.skipped.length} undecodable images, e.g. ${r.skipped[0]!.file} (${r.skipped[0]!.reason})`);
  return lines.join('\n');
}

/** `captioner eval`. */
export function evalCommand(): Command {
  const cmd = new Command('eval')
    .description('caption a split with beam search and score it (BLEU-1..4, CIDEr-D; content accuracy and attention hit rate on synthetic data)')
    .option('--model <dir>', `model directory (or a train --out directory: its best/ is used; default ${DEFAULT_MODEL_DIR})`);
  withData(cmd);
  withBackend(cmd);
  return cmd
    .addOption(new Option('--split <split>', 'split to evaluate').choices(['train', 'val', 'test']).default('test'))
    .option('--beam-size <k>', 'beam size', int(1), 4)
    .option('--max-steps <n>', 'beam search step cap', int(1), 50)
    .option('--length-penalty <a>', 'rank beams by log-prob / length^a (0: summed log-prob, the reference)', positive(true), 0)
    .option('--detector-rerank <w>', RERANK_HELP, positive(true))
    .option('--limit <n>', 'evaluate only the first n images of the split', int(1))
    .option('--json', 'print the report as JSON')
    .option('--predictions <file>', 'also write every caption to FILE (JSON, readable by `captioner score --hyps`)')
    .action(
      action('eval', async (o: DataOptions & { model?: string; split: Split; beamSize: number; maxSteps: number; lengthPenalty: number; detectorRerank?: number; limit?: number; json?: boolean; predictions?: string; backend?: string }) => {
        const info = await setupBackend(o.backend, { stderr: o.json });
        const dir = await modelDirOrDefault(o.model);
        const dataset = await loadData(o);
        const captioner = await loadCaptioner(dir);
        try {
          const report = await evaluate({
            captioner, dataset, split: o.split, beamSize: o.beamSize, maxSteps: o.maxSteps, lengthPenalty: o.lengthPenalty, detectorRerank: o.detectorRerank, limit: o.limit, backend: info.name, native: info.native,
            predictionsPath: o.predictions ? resolve(o.predictions) : undefined,
          });
          console.log(o.json ? JSON.stringify(report, null, 2) : formatReport(report));
          if (o.predictions && !o.json) console.log(`predictions: ${resolve(o.predictions)}`);
        } finally {
          captioner.dispose();
        }
      }),
    );
}
