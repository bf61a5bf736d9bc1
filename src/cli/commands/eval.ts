import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { Split } from '../../data/types.js';
import { loadCaptioner } from '../../model/index.js';
import { evaluate, type EvaluationReport } from '../../../pipelines/evaluate.js';
import { DEFAULT_MODEL_DIR, modelDirOrDefault } from '../default-model.js';
import { GROUP_BONUS_HELP, LEARNED_RERANK_OFF_HELP, ORDER_BONUS_HELP, RERANK_HELP, STYLE_HELP, int, loadData, positive, probability, setupBackend, withBackend, withData, type DataOptions } from '../options.js';
import { action } from '../user-error.js';

const pct = (x: number) => (100 * x).toFixed(2);

/** The human-readable form of an evaluation report. */
export function formatReport(r: EvaluationReport): string {
  const lines = [
    `model ${r.modelId} on ${r.dataset} ${r.split} (${r.images} images, beam ${r.beamSize}${r.lengthPenalty ? `, length penalty ${r.lengthPenalty}` : ''}${r.detectorRerank ? `, detector re-ranking ${r.detectorRerank}` : ''}${r.learnedRerank ? ', learned re-ranker' : ''}${r.style ? `, annotator style ${r.style}` : ''}${r.groupBonus ? `, group bonus ${r.groupBonus}` : ''}${r.orderBonus ? `, order bonus ${r.orderBonus}` : ''}, ${r.backend}, ${r.imagesPerSec.toFixed(1)} images/s)`,
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
    .option('--no-learned-rerank', LEARNED_RERANK_OFF_HELP)
    .option('--style <n>', STYLE_HELP, int(0), 0)
    .option('--group-bonus <nats>', GROUP_BONUS_HELP, positive(true))
    .option('--order-bonus <nats>', ORDER_BONUS_HELP, positive(true))
    .option('--order-margin <fraction>', 'objects closer than this fraction of the image width are not ordered by --order-bonus', probability(false))
    .option('--limit <n>', 'evaluate only the first n images of the split', int(1))
    .option('--json', 'print the report as JSON')
    .option('--predictions <file>', 'also write every caption to FILE (JSON, readable by `captioner score --hyps`)')
    .action(
      action('eval', async (o: DataOptions & { model?: string; split: Split; beamSize: number; maxSteps: number; lengthPenalty: number; detectorRerank?: number; learnedRerank: boolean; style: number; groupBonus?: number; orderBonus?: number; orderMargin?: number; limit?: number; json?: boolean; predictions?: string; backend?: string }) => {
        const info = await setupBackend(o.backend, { stderr: o.json });
        const dir = await modelDirOrDefault(o.model);
        const dataset = await loadData(o);
        const captioner = await loadCaptioner(dir);
        try {
          const report = await evaluate({
            captioner, dataset, split: o.split, beamSize: o.beamSize, maxSteps: o.maxSteps, lengthPenalty: o.lengthPenalty, detectorRerank: o.detectorRerank, learnedRerank: o.learnedRerank ? undefined : false, style: o.style, groupBonus: o.groupBonus, orderBonus: o.orderBonus, orderMargin: o.orderMargin, limit: o.limit, backend: info.name, native: info.native,
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
