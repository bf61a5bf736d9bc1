import { resolve } from 'node:path';
import { Command } from 'commander';
import { importCheckpoint, WordMapError } from '../../interop/import-checkpoint.js';
import { saveCheckpoint } from '../../model/index.js';
import { setupBackend, withBackend } from '../options.js';
import { action, UserError } from '../user-error.js';

/** `captioner import`: a PyTorch Show-Attend-Tell checkpoint as a model directory. */
export function importCommand(): Command {
  const cmd = new Command('import')
    .description('turn a PyTorch Show, Attend and Tell checkpoint (the tutorial\'s BEST_checkpoint_*.pth.tar, its descendants\', or a state_dict) into a model directory for caption, eval, watch, kafka and train --resume')
    .requiredOption('--checkpoint <file>', 'the .pth / .pth.tar file (either torch.save container; CUDA-saved files are fine); read as data, nothing in it is executed')
    .option('--word-map <file>', 'the WORDMAP_*.json the checkpoint was trained with ({"word": index})')
    .requiredOption('--out <dir>', 'the model directory to write (written to a temporary sibling, then renamed into place)');
  return withBackend(cmd).action(
    action('import', async (o: { checkpoint: string; wordMap?: string; out: string; backend?: string }) => {
      await setupBackend(o.backend);
      const imported = await importCheckpoint(resolve(o.checkpoint), o.wordMap && resolve(o.wordMap)).catch((err: unknown) => {
        throw err instanceof WordMapError ? new UserError(err.message) : err;
      });
      const { model, vocab, preprocess, meta, notes } = imported;
      try {
        await saveCheckpoint(o.out, { model, vocab, preprocess, meta });
      } finally {
        model.dispose();
      }
      const c = model.config;
      const enc = c.encoder.kind === 'resnet' ? `ResNet (${c.encoder.block}, blocks ${c.encoder.layers.join('/')})` : c.encoder.kind;
      console.log(`imported ${o.checkpoint} (${String(meta.container)} container, ${String(meta.layout)}): ${enc}, ${c.gridSize}x${c.gridSize} grid of ${c.encoderDim}, decoder ${c.attentionDim}/${c.embedDim}/${c.decoderDim}, ${vocab.size} words -> ${o.out}`);
      for (const n of notes) console.log(`note: ${n}`);
    }),
  );
}
