import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startCaptionKafka } from '../../../pipelines/caption-kafka.js';
import { join, resolve } from 'node:path';
import { KafkaConfigError } from '../../kafka/errors.js';
import { parseBrokerList, resolveKafkaOptions, type KafkaLogLevel } from '../../kafka/options.js';
import { exists, resolveModelDir } from '../options.js';
import { packageRoot } from '../package-root.js';
import { UserError, action } from '../user-error.js';

const int = (name: string, min: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got "${v}"`);
  return n;
};

/**
 * `captioner kafka`: the caption service on Kafka topics (see pipelines/caption-kafka.ts; formats in
 * src/kafka/formats.ts). Runs until SIGINT/SIGTERM, then finishes in-flight images, commits and exits.
 */
export function kafkaCommand(): Command {
  return new Command('kafka')
    .description('caption images from a Kafka topic; results and dead letters go to Kafka (at least once, consumer group scale-out)')
    .option('--brokers <list>', 'bootstrap servers HOST:PORT[,HOST:PORT...] (or "brokers" in --config)')
    .requiredOption('--in <topic...>', 'input topic(s): image bytes (key = id) or JSON {"id","path"} references')
    .requiredOption('--out <topic>', 'output topic of caption results (JSON, key = id)')
    .option('--group <id>', 'consumer group; processes with the same group share the partitions', 'captioner')
    .option('--dead-letter <topic>', 'dead-letter topic [<first --in topic>.dead-letter]')
    .option('--model <dir>', 'model checkpoint directory (default: models/default)')
    .option('--config <file>', 'JSON client config: brokers, clientId, ssl, sasl, retry, requestTimeout, logLevel')
    .option('--client-id <id>', 'Kafka client id [captioner]')
    .option('--allow-root <dir>', 'directory that JSON path references must resolve inside (nothing outside is read)')
    .option('--max-bytes <n>', 'largest image accepted in a record, bytes', int('--max-bytes', 1))
    .option('--workers <n>', 'model replicas in this process [one per core]', int('--workers', 1))
    .option('--backend <name>', 'tfjs backend: auto, node-gpu, node, wasm, cpu')
    .option('--max-batch <n>', 'largest model batch', int('--max-batch', 1), 8)
    .option('--max-delay <ms>', 'longest wait for a batch to fill', int('--max-delay', 0), 20)
    .option('--beam <k>', 'beam size', int('--beam', 1), 3)
    .option('--high-water <n>', 'images in flight at most (partitions pause above it)', int('--high-water', 1))
    .option('--session-timeout <ms>', 'group session timeout: how fast a dead worker\'s partitions move', int('--session-timeout', 6000), 30000)
    .option('--create-topics', 'create missing topics before starting')
    .option('--partitions <n>', 'partitions of topics created by --create-topics', int('--partitions', 1), 1)
    .option('--port <p>', 'serve the live feed (WebSocket, /metrics) on this port', int('--port', 0))
    .option('--host <addr>', 'feed server interface', '127.0.0.1')
    .option('--token <t>', 'bearer token the feed requires')
    .addOption(new Option('--log-level <level>', 'Kafka client log level').choices(['nothing', 'error', 'warn', 'info', 'debug']))
    .action(action('kafka', async (o: KafkaCommandOptions) => {
      let kafka;
      try {
        kafka = await resolveKafkaOptions(o.config, {
          brokers: o.brokers !== undefined ? parseBrokerList(o.brokers) : undefined,
          clientId: o.clientId,
          logLevel: o.logLevel,
        });
      } catch (e) {
        throw e instanceof KafkaConfigError ? new UserError(e.message) : e;
      }
      const modelDir = await modelDirOf(o.model);
      const log = (line: string): void => console.log(`[kafka] ${line}`);
      let service;
      try {
        service = await startCaptionKafka({
          kafka,
          inTopics: o.in,
          outTopic: o.out,
          groupId: o.group,
          deadLetterTopic: o.deadLetter,
          createTopics: o.createTopics ?? false,
          partitions: o.partitions,
          modelDir,
          allowRoot: o.allowRoot,
          maxBytes: o.maxBytes,
          workers: o.workers,
          backend: o.backend,
          maxBatch: o.maxBatch,
          maxDelayMs: o.maxDelay,
          beamSize: o.beam,
          highWater: o.highWater,
          sessionTimeout: o.sessionTimeout,
          port: o.port ?? null,
          host: o.host,
          token: o.token,
          log,
        });
      } catch (e) {
        // The client library's connection and protocol errors are about the user's setup, not a bug.
        if (e instanceof Error && e.name.startsWith('KafkaJS')) {
          throw new UserError(`Kafka at ${kafka.brokers.join(',')}: ${e.message}. Check --brokers / --config and that the broker is up (for tests: .ci/kafka/broker.sh start)`);
        }
        throw e;
      }
      let signalledAt: number | undefined;
      const onSignal = (sig: string): void => {
        // A launcher (npx, tsx) may relay the same signal the process group already got: only a
        // second signal well after the first means "exit now".
        if (signalledAt !== undefined) {
          if (Date.now() - signalledAt < 1000) return;
          log(`second ${sig}: exiting now (uncommitted records will be redelivered)`);
          process.exit(130);
        }
        signalledAt = Date.now();
        log(`${sig}: finishing in-flight images, committing, leaving the group`);
        void service.stop();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await service.done;
      } finally {
        await service.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        const s = service.source.stats();
        log(`stopped: ${s.acked} captioned, ${s.failed + s.rejected} dead-lettered`);
      }
    }));
}

/** --model, else models/default in the working directory or the package (as `captioner watch`). */
async function modelDirOf(model: string | undefined): Promise<string> {
  if (model) return resolveModelDir(model);
  for (const candidate of [resolve('models', 'default'), join(packageRoot(), 'models', 'default')]) {
    if (await exists(join(candidate, 'model.json'))) return candidate;
  }
  throw new UserError('no model: pass --model DIR (a checkpoint from `captioner train --out DIR`) or install one at models/default');
}

interface KafkaCommandOptions {
  brokers?: string;
  in: string[];
  out: string;
  group: string;
  deadLetter?: string;
  model?: string;
  config?: string;
  clientId?: string;
  allowRoot?: string;
  maxBytes?: number;
  workers?: number;
  backend?: string;
  maxBatch: number;
  maxDelay: number;
  beam: number;
  highWater?: number;
  sessionTimeout: number;
  createTopics?: boolean;
  partitions: number;
  port?: number;
  host: string;
  token?: string;
  logLevel?: KafkaLogLevel;
}

// Runnable on its own too (`node --import tsx src/cli/commands/kafka.ts --brokers ...`): the crash
// and scale-out tests and bench-kafka start worker processes this way, independent of main.ts.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await kafkaCommand().parseAsync(process.argv, { from: 'node' });
}
