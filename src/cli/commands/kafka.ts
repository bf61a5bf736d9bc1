import { pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import { startCaptionKafka } from '../../../pipelines/caption-kafka.js';
import { KafkaConfigError } from '../../kafka/errors.js';
import { BrokerUnreachableError } from '../../kafka/wait-for-broker.js';
import { parseBrokerList, resolveKafkaOptions, type KafkaLogLevel } from '../../kafka/options.js';
import { checkFeedOptions } from '../../sinks/feed-server.js';
import { modelDirOrDefault } from '../default-model.js';
import { RERANK_HELP, int, positive, withBackend } from '../options.js';
import { runUntilStopped } from '../stop-on-signals.js';
import { UserError, action } from '../user-error.js';

/**
 * `captioner kafka`: the caption service on Kafka topics (see pipelines/caption-kafka.ts; formats in
 * src/kafka/formats.ts). Runs until SIGINT/SIGTERM, then finishes in-flight images, commits and exits.
 */
export function kafkaCommand(): Command {
  return withBackend(new Command('kafka')
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
    .option('--max-bytes <n>', 'largest image accepted in a record, bytes', int(1))
    .option('--workers <n>', 'model replicas in this process [one per core on wasm and cpu, one on native and GPU backends]', int(1))
    .option('--max-batch <n>', 'largest model batch', int(1), 8)
    .option('--max-delay-ms <ms>', 'longest wait of a batch for more images after its first', positive(true), 20)
    .option('--beam-size <k>', 'beam width (1 = greedy)', int(1), 3)
    .option('--detector-rerank <w>', RERANK_HELP, positive(true))
    .option('--high-water <n>', 'images in flight at most (partitions pause above it)', int(1))
    .option('--broker-wait-ms <ms>', 'at start, how long to wait for the brokers to answer (one line per retry), then exit 1', int(0), 30000)
    .option('--shutdown-grace-ms <ms>', 'on SIGTERM, finish within this whatever the broker does; unfinished records stay uncommitted (redelivered)', int(0), 10000)
    .option('--session-timeout <ms>', 'group session timeout: how fast a dead worker\'s partitions move', int(6000), 30000)
    .option('--create-topics', 'create missing topics before starting')
    .option('--partitions <n>', 'partitions of topics created by --create-topics', int(1), 1)
    .option('--port <p>', 'port of the dashboard and feed server (0 picks a free one; when the default is taken a free one is used)', int(0), 8080)
    .option('--no-feed', 'run without the dashboard and feed server')
    .option('--host <addr>', 'feed server interface', '127.0.0.1')
    .option('--token <t>', 'bearer token the feed requires')
    .option('--allow-origin <origin...>', 'also let pages from these origins (scheme://host[:port]) use the feed')
    .option('--allow-host <name...>', 'also serve these Host names (e.g. a reverse proxy\'s), besides loopback names and --host')
    .addOption(new Option('--log-level <level>', 'Kafka client log level').choices(['nothing', 'error', 'warn', 'info', 'debug'])))
    .action(action('kafka', async (o: KafkaCommandOptions, command: Command) => {
      // Before anything connects or loads: a wrong option fails at once.
      if (o.feed) checkFeedOptions({ token: o.token, allowOrigins: o.allowOrigin, allowHosts: o.allowHost });
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
      const modelDir = await modelDirOrDefault(o.model);
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
          maxDelayMs: o.maxDelayMs,
          beamSize: o.beamSize,
          detectorRerank: o.detectorRerank,
                    highWater: o.highWater,
          sessionTimeout: o.sessionTimeout,
          port: o.feed ? o.port : null,
          portFallback: command.getOptionValueSource('port') === 'default',
          host: o.host,
          token: o.token,
          allowOrigins: o.allowOrigin,
          allowHosts: o.allowHost,
          brokerWaitMs: o.brokerWaitMs,
          shutdownGraceMs: o.shutdownGraceMs,
          log,
        });
      } catch (e) {
        if (e instanceof BrokerUnreachableError) throw new UserError(e.message);
        // The client library's connection and protocol errors are about the user's setup, not a bug.
        if (e instanceof Error && e.name.startsWith('KafkaJS')) {
          throw new UserError(`Kafka at ${kafka.brokers.join(',')}: ${e.message}. Check --brokers / --config and that the broker is up (for tests: .ci/kafka/broker.sh start)`);
        }
        throw e;
      }
      await runUntilStopped(service, log, () => {
        const s = service.source.stats();
        return `${s.acked} captioned, ${s.failed + s.rejected} dead-lettered`;
      });
      // The client library may still hold timers and sockets (a broker that went away): stop() has
      // committed what it could within the grace period, so nothing is left to wait for.
      process.exit(process.exitCode ?? 0);
    }));
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
  maxDelayMs: number;
  beamSize: number;
  detectorRerank?: number;
  highWater?: number;
  sessionTimeout: number;
  createTopics?: boolean;
  partitions: number;
  port: number;
  feed: boolean;
  host: string;
  token?: string;
  brokerWaitMs: number;
  shutdownGraceMs: number;
  allowOrigin?: string[];
  allowHost?: string[];
  logLevel?: KafkaLogLevel;
}

// Runnable on its own too (`node --import tsx src/cli/commands/kafka.ts --brokers ...`): the crash
// and scale-out tests and bench-kafka start worker processes this way, independent of main.ts.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await kafkaCommand().parseAsync(process.argv, { from: 'node' });
}
