import { Command, Option } from 'commander';
import { scoreFiles } from '../../metrics/score-file.js';
import type { Split } from '../../data/types.js';
import { setupBackend, withBackend } from '../options.js';
import { action } from '../user-error.js';

/** `captioner score`: BLEU-1..4 and CIDEr-D of a captions file against references. */
export function scoreCommand(): Command {
  const cmd = new Command('score')
    .description('score generated captions against references: BLEU-1..4 (NLTK corpus BLEU) and CIDEr-D')
    .requiredOption('--hyps <file>', 'captions: {"id": "caption"}, [{"id", "caption"}] or JSON Lines (e.g. eval --predictions)')
    .requiredOption('--refs <file>', 'references: {"id": ["ref", ...]} or a Karpathy split JSON')
    .addOption(new Option('--split <split>', 'with a Karpathy references file: score only this split').choices(['train', 'val', 'test']))
    .option('--json', 'print the scores as JSON');
  return withBackend(cmd).action(
    action('score', async (o: { hyps: string; refs: string; split?: Split; json?: boolean; backend?: string }) => {
      await setupBackend(o.backend, { stderr: o.json });
      const r = await scoreFiles({ hyps: o.hyps, refs: o.refs, split: o.split });
      if (o.json) {
        console.log(JSON.stringify(r, null, 2));
        return;
      }
      const pct = (x: number) => (100 * x).toFixed(2);
      console.log(`images ${r.count}  BLEU-1 ${pct(r.bleu1)}  BLEU-2 ${pct(r.bleu2)}  BLEU-3 ${pct(r.bleu3)}  BLEU-4 ${pct(r.bleu4)}  CIDEr-D ${pct(r.ciderD)}`);
    }),
  );
}
