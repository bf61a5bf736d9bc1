import { Command, InvalidArgumentError } from 'commander';
import { startCaptionFolder } from '../../../pipelines/caption-folder.js';
import { renderAttentionFigure } from '../../render/index.js';
import { checkFeedOptions } from '../../sinks/feed-server.js';
import { DEFAULT_EXTENSIONS } from '../../sources/folder-source.js';
import { modelDirOrDefault } from '../default-model.js';
import { RERANK_HELP, int, isDir, positive, withBackend } from '../options.js';
import { runUntilStopped } from '../stop-on-signals.js';
import { UserError, action } from '../user-error.js';

interface WatchOptions {
  model?: string;
  out?: string;
  maxBatch: number;
  maxDelayMs: number;
  workers?: number;
  port: number;
  host: string;
  token?: string;
  recursive?: boolean;
  ext: string[];
  beamSize: number;
  detectorRerank?: number;
  figures?: boolean;
  backend?: string;
  highWater?: number;
  stableMs: number;
  incompleteWaitMs: number;
  allowOrigin?: string[];
  allowHost?: string[];
  maxFileBytes?: number;
  requestTimeoutMs: number;
}

const extList = (v: string): string[] => {
  const exts = v.split(',').map((e) => e.trim().replace(/^\./, '').toLowerCase()).filter(Boolean);
  if (exts.length === 0) throw new InvalidArgumentError('expected a comma-separated list such as jpg,png');
  return exts;
};

/**
 * `captioner watch DIR`: the caption service. Images dropped into DIR are captioned live; results go
 * to --out as JSON (and attention figures with --figures); inputs move to DIR/processed or
 * DIR/failed (with a reason file); a WebSocket feed, Prometheus /metrics and POST /caption share
 * one port. SIGINT/SIGTERM stop it gracefully (a second signal exits at once).
 */
export function watchCommand(): Command {
  const cmd = new Command('watch')
    .description('caption images dropped into a folder, live (results as JSON, WebSocket feed, /metrics, POST /caption)')
    .argument('<dir>', 'the folder to watch (files already there are captioned too)')
    .option('--model <dir>', 'model checkpoint directory (default: models/default)')
    .option('--out <dir>', 'where JSON results go (default: DIR/captions)')
    .option('--max-batch <n>', 'largest batch sent to a model replica', int(1), 8)
    .option('--max-delay-ms <ms>', 'longest wait of a batch for more images after its first', positive(true), 20)
    .option('--workers <n>', 'model replicas (default: one per core on wasm and cpu, one on native and GPU backends)', int(1))
    .option('--port <port>', 'port of the dashboard and feed server (0 picks a free one; when the default is taken a free one is used)', int(0), 8080)
    .option('--host <host>', 'interface to bind (0.0.0.0 exposes the service to the network)', '127.0.0.1')
    .option('--token <token>', 'require this bearer token for the feed, /caption and /metrics (default: $CAPTIONER_TOKEN)')
    .option('--allow-origin <origin...>', 'also let pages from these origins (scheme://host[:port]) use the feed and POST /caption')
    .option('--allow-host <name...>', 'also serve these Host names (e.g. a reverse proxy\'s), besides loopback names and --host')
    .option('--request-timeout-ms <ms>', 'a POST /caption (headers and body) must arrive within this, else 408', int(1000), 30000)
    .option('--max-file-bytes <n>', 'refuse images larger than this many bytes (default 64 MiB)', int(1))
    .option('--recursive', 'watch subfolders too')
    .option('--ext <list>', 'image extensions to take', extList, DEFAULT_EXTENSIONS)
    .option('--beam-size <k>', 'beam width (1 = greedy)', int(1), 3)
    .option('--detector-rerank <w>', RERANK_HELP, positive(true))
    .option('--figures', 'also write NAME.attention.png per image')
    .option('--high-water <n>', 'images in flight at most before the folder source pauses', int(1))
    .option('--stable-ms <ms>', 'how long ago a file must have last changed (its mtime) before it is taken', int(0), 1000)
    .option('--incomplete-wait-ms <ms>', 'how long a file without its end marker (JPEG, PNG, GIF, WebP, AVIF) may sit unchanged before it is taken anyway (and fails)', int(0), 10000);
  withBackend(cmd);
  cmd.action(
    action('watch', async (dir: string, o: WatchOptions, command: Command) => {
      if (!(await isDir(dir))) throw new UserError(`${dir}: no such directory; create it or pass the folder to watch`);
      const token = o.token ?? (process.env.CAPTIONER_TOKEN || undefined);
      // Before the model is looked for or loaded: a wrong option fails at once.
      checkFeedOptions({ token, allowOrigins: o.allowOrigin, allowHosts: o.allowHost });
      const modelDir = await modelDirOrDefault(o.model);
      const log = (line: string): void => console.error(`[${new Date().toISOString()}] ${line}`);
      const service = await startCaptionFolder({
        dir,
        modelDir,
        outDir: o.out,
        maxBatch: o.maxBatch,
        maxDelayMs: o.maxDelayMs,
        workers: o.workers,
        backend: o.backend,
        port: o.port,
        portFallback: command.getOptionValueSource('port') === 'default',
        host: o.host,
        token,
        recursive: o.recursive,
        extensions: o.ext,
        beamSize: o.beamSize,
        detectorRerank: o.detectorRerank,
                renderFigure: o.figures ? renderAttentionFigure : undefined,
        highWater: o.highWater,
        allowOrigins: o.allowOrigin,
        allowHosts: o.allowHost,
        requestTimeoutMs: o.requestTimeoutMs,
        maxFileBytes: o.maxFileBytes,
        maxFileBytesOption: '--max-file-bytes',
        stabilityMs: o.stableMs,
        incompleteGraceMs: o.incompleteWaitMs,
        log,
      });
      await runUntilStopped(service, log, () => {
        const s = service.source.stats();
        return `${s.acked} captioned, ${s.failed} failed, ${s.queued} left in the inbox`;
      });
    }),
  );
  return cmd;
}
