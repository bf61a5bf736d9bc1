import { basename, extname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { ImageDecodeError, prepareImage } from '../../data/index.js';
import { loadCaptioner, type Captioner } from '../../decoding/index.js';
import type { CaptionResult } from '../../model/index.js';
import { renderAttentionFigure } from '../../render/index.js';
import { writeFileAtomic } from '../../io/write-file-atomic.js';
import { DEFAULT_MODEL_DIR, modelDirOrDefault } from '../default-model.js';
import { RERANK_HELP, exists, int, positive, setupBackend, withBackend } from '../options.js';
import { UserError, action } from '../user-error.js';

/** Where `caption` looks for a model when --model is not given (kept here for existing importers). */
export { DEFAULT_MODEL_DIR };

export interface CaptionFileResult {
  image: string;
  caption: string;
  txt: string;
  json: string;
  figure?: string;
}

/**
 * Captions image files and writes, per image, NAME.txt (the caption), NAME.json (words, score,
 * alternatives, attention maps) and NAME.attention.png (the reference's attention figure), each
 * atomically. Names that collide (same base name from two folders) get a numeric suffix.
 */
export async function captionFiles(captioner: Captioner, files: string[], outDir: string, opts: { beamSize: number; maxSteps: number; figure: boolean; alternatives: number; batchSize?: number; detectorRerank?: number }): Promise<CaptionFileResult[]> {
  const used = new Set<string>();
  const results: CaptionFileResult[] = [];
  // Images go through the model in batches (one encoder pass and one batched beam search each).
  const batchSize = opts.batchSize ?? 16;
  const captioned: Array<{ file: string; r: CaptionResult }> = [];
  for (let i = 0; i < files.length; i += batchSize) {
    const chunk = files.slice(i, i + batchSize);
    const images = await Promise.all(chunk.map((f) => prepareImage(f, captioner.preprocess)));
    const rs = await captioner.caption(images, {
      beamSize: opts.beamSize,
      maxSteps: opts.maxSteps,
      returnAlternatives: Math.min(opts.alternatives, opts.beamSize),
      detectorRerank: opts.detectorRerank,
    });
    rs.forEach((r, j) => captioned.push({ file: chunk[j]!, r }));
  }
  for (const { file, r } of captioned) {
    const best = r.best;
    let stem = basename(file, extname(file));
    for (let i = 2; used.has(stem); i++) stem = `${basename(file, extname(file))}-${i}`;
    used.add(stem);
    const txt = join(outDir, `${stem}.txt`);
    const json = join(outDir, `${stem}.json`);
    await writeFileAtomic(txt, r.caption + '\n');
    await writeFileAtomic(
      json,
      JSON.stringify(
        {
          image: resolve(file), caption: r.caption, words: best.words, score: best.score, logProb: best.logProb, finished: best.finished,
          alternatives: r.alternatives.map((a) => ({ caption: a.words.join(' '), score: a.score })), gridSize: r.gridSize,
          attention: best.attention.map((m) => Array.from(m, (x) => Number(x.toFixed(5)))), modelId: captioner.modelId,
        },
        null,
        2,
      ) + '\n',
    );
    const out: CaptionFileResult = { image: file, caption: r.caption, txt, json };
    if (opts.figure) {
      const cells = r.gridSize ** 2;
      // The figure draws <start> first (with no overlay) and <end> last, one map per token.
      const words = ['<start>', ...best.words, ...(best.finished ? ['<end>'] : [])];
      const maps = [new Float32Array(cells).fill(1 / cells), ...best.attention.slice(0, words.length - 1)];
      const png = await renderAttentionFigure({ image: file, words, maps, gridSize: r.gridSize });
      out.figure = join(outDir, `${stem}.attention.png`);
      await writeFileAtomic(out.figure, png);
    }
    results.push(out);
  }
  return results;
}

/** `captioner caption`. */
export function captionCommand(): Command {
  const cmd = new Command('caption')
    .description('caption image files; writes NAME.txt, NAME.json (words, score, attention) and NAME.attention.png per image')
    .requiredOption('-i, --input <images...>', 'image files')
    .requiredOption('-o, --out <dir>', 'output directory')
    .option('--model <dir>', `model directory (default ${DEFAULT_MODEL_DIR})`)
    .option('--beam-size <k>', 'beam size', int(1), 3)
    .option('--max-steps <n>', 'beam search step cap', int(1), 50)
    .option('--alternatives <n>', 'ranked alternatives to store in NAME.json', int(1), 3)
    .option('--detector-rerank <w>', RERANK_HELP, positive(true))
    .option('--no-figure', 'skip the attention figure');
  withBackend(cmd);
  return cmd.action(
    action('caption', async (o: { input: string[]; out: string; model?: string; beamSize: number; maxSteps: number; alternatives: number; figure: boolean; detectorRerank?: number; backend?: string }) => {
      for (const f of o.input) if (!(await exists(f))) throw new UserError(`-i ${f}: no such file`);
      await setupBackend(o.backend);
      const dir = await modelDirOrDefault(o.model);
      const captioner = await loadCaptioner(dir);
      try {
        const results = await captionFiles(captioner, o.input, o.out, { beamSize: o.beamSize, maxSteps: o.maxSteps, figure: o.figure, alternatives: o.alternatives, detectorRerank: o.detectorRerank });
        for (const r of results) console.log(`${r.image}: ${r.caption}${r.figure ? `  [${r.figure}]` : ''}`);
      } catch (err) {
        if (err instanceof ImageDecodeError) throw new UserError(`-i ${err.file}: cannot decode image (${err.reason}); pass a JPEG, PNG, WebP, GIF, TIFF or AVIF file`);
        throw err;
      } finally {
        captioner.dispose();
      }
    }),
  );
}
