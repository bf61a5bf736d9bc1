import { Command } from 'commander';
import { generateSynthetic } from '../../data/index.js';
import { int, setupBackend, withBackend } from '../options.js';
import { action } from '../user-error.js';

/** `captioner synth`: writes a deterministic synthetic data set (PNG scenes + Karpathy-format dataset.json). */
export function synthCommand(): Command {
  const cmd = new Command('synth')
    .description('generate a synthetic captioning data set: coloured shapes with captions that can be checked')
    .requiredOption('--out <dir>', 'directory to write dataset.json and images/ into')
    .option('--count <n>', 'number of images (80% train, 10% val, 10% test)', int(1), 1000)
    .option('--seed <n>', 'random seed: the same seed gives the same bytes', int(0), 1)
    .option('--image-size <px>', 'side of the square images', int(32), 64);
  return withBackend(cmd).action(
    action('synth', async (o: { out: string; count: number; seed: number; imageSize: number; backend?: string }) => {
      // Synthesis uses no tensors; the backend is set up anyway so every command reports it alike.
      await setupBackend(o.backend);
      const t0 = performance.now();
      const ds = await generateSynthetic({ outDir: o.out, count: o.count, seed: o.seed, imageSize: o.imageSize });
      console.log(`wrote ${ds.count} images to ${ds.imageDir} and ${ds.jsonPath} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }),
  );
}
