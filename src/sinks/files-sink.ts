import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/write-file-atomic.js';
import type { CaptionRecord } from './caption-record.js';

/** Draws the per-word attention figure (renderAttentionFigure's signature). */
export type FigureRenderer = (opts: { image: string | Buffer; words: string[]; maps: ArrayLike<number>[]; gridSize: number }) => Promise<Buffer>;

export interface FilesSinkOptions {
  /**
   * Where `<id>.json` (and `<id>.attention.png`) go; created if missing. For the folder service the id
   * is the input's name with a short content hash before the extension (x.3fa2b1c9e0d1.jpg.json), so
   * a result names the one input it belongs to (see src/sources/folder/journal.ts).
   */
  outDir: string;
  /** Renders an attention figure per image when given (the --figures flag). */
  renderFigure?: FigureRenderer;
}

export interface FilesSink {
  readonly outDir: string;
  /** Path of the JSON result of a job id. */
  resultPath(id: string): string;
  /** True when the job's JSON result is durable (recovery uses it: see the folder source). */
  hasResult(id: string): Promise<boolean>;
  /**
   * Writes the figure (if enabled) and then the JSON result, each temp-then-rename. The JSON is
   * written last: its presence is the commit record of the job, so a crash in between re-runs it.
   * @param image The input image for the figure (path or bytes).
   */
  write(record: CaptionRecord, image?: string | Buffer): Promise<void>;
  /** Removes temp files a crash left half-written (`.NAME.tmp-*`); call before the service starts. */
  sweep(): Promise<number>;
}

/**
 * The files sink: one JSON file per image with caption, words, score, alternatives, per-word
 * attention maps, model id, backend and per-stage timings, and optionally an attention figure PNG.
 */
export function createFilesSink(options: FilesSinkOptions): FilesSink {
  const outDir = resolve(options.outDir);
  let made: Promise<unknown> | undefined;
  const resultPath = (id: string): string => join(outDir, `${id}.json`);
  return {
    outDir,
    resultPath,
    hasResult: (id) => stat(resultPath(id)).then(
      (s) => s.isFile(),
      () => false,
    ),
    async sweep() {
      const names = await readdir(outDir).catch(() => [] as string[]);
      const temps = names.filter((n) => n.startsWith('.') && n.includes('.tmp-'));
      await Promise.all(temps.map((n) => rm(join(outDir, n), { force: true })));
      return temps.length;
    },
    async write(record, image) {
      await (made ??= mkdir(outDir, { recursive: true }));
      if (options.renderFigure && image !== undefined) {
        // <start> has no attention of its own: an empty map keeps one panel per token, as the reference draws it.
        const cells = record.gridSize * record.gridSize;
        const tokens = ['<start>', ...record.words, ...(record.attention.length > record.words.length ? ['<end>'] : [])];
        const maps = [new Array<number>(cells).fill(0), ...record.attention];
        const png = await options.renderFigure({ image, words: tokens, maps, gridSize: record.gridSize });
        await writeFileAtomic(join(outDir, `${record.id}.attention.png`), png);
      }
      await writeFileAtomic(resultPath(record.id), JSON.stringify(record) + '\n');
    },
  };
}
