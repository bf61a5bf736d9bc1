import { resolve } from 'node:path';
import { Command } from 'commander';
import { trainReranker, type RerankerEvent } from '../../../pipelines/train-reranker.js';
import { int, loadData, positive, setupBackend, withBackend, withData, type DataOptions } from '../options.js';
import { logEvents, userFacing } from '../log-events.js';
import { stopOnSignals } from '../stop-on-signals.js';
import { action } from '../user-error.js';
import { threadsFor } from '../../runtime/worker-entry.js';

interface RerankTrainCliOptions extends DataOptions {
  model: string;
  trainLimit?: number;
  valLimit: number;
  openings: number;
  extraOpening: string[];
  beamSize: number;
  hidden: number;
  ensemble: number;
  bigramMinCount: number;
  epochs: number;
  lr: number;
  seed: number;
  workers?: number;
  backend?: string;
}

const pct = (x: number) => (100 * x).toFixed(2);

/** One log line per event (pool progress every 1,000 images). */
export function describeRerankerEvent(e: RerankerEvent): string | undefined {
  switch (e.kind) {
    case 'pools':
      return e.done % 1000 === 0 || e.done === e.images ? `candidates of ${e.done}/${e.images} ${e.split} images` : undefined;
    case 'epoch':
      return `${e.members > 1 ? `network ${e.member}/${e.members}, ` : ''}epoch ${e.epoch}${e.averaged ? ' (weights averaged since the middle epoch)' : ''}: loss ${e.loss.toFixed(4)}, validation BLEU-4 ${pct(e.valBleu4)} (own score x ${e.logProbWeight})${e.best ? ' best so far' : ''}`;
    case 'done':
      return [
        `re-ranker trained in ${e.minutes.toFixed(1)} min (${e.candidatesPerImage.toFixed(1)} candidates per image): validation BLEU-4 ${pct(e.baselineBleu4)} (the model's own choice) -> ${pct(e.bestBleu4)} (${e.members.map((m) => `epoch ${m.bestEpoch}${m.averaged ? ' averaged' : ''}`).join(', ')}${e.members.length > 1 ? `; the networks alone ${e.members.map((m) => pct(m.valBleu4)).join(', ')}` : ''})`,
        e.written ? `written: ${e.written}` : 'not written: the re-ranker did not beat the model\'s own choice on validation',
      ].join('\n');
  }
}

/** `captioner rerank-train`: trains the learned re-ranker of a model and stores it beside the model. */
export function rerankTrainCommand(): Command {
  const cmd = new Command('rerank-train')
    .description("train a model's learned re-ranker: beam-search and complete common openings for training images, then learn which candidate a reference would say; writes MODEL/reranker.json (only if it beats the model's own choice on validation), which caption, eval, watch and kafka then use")
    .requiredOption('--model <dir>', 'trained model (with a word detector); reranker.json is written into it');
  withData(cmd);
  withBackend(cmd);
  return cmd
    .option('--train-limit <n>', 'training images (the first of the train split; default all)', int(1))
    .option('--val-limit <n>', 'validation images (the first of the val split)', int(1), 500)
    .option('--openings <n>', 'commonest openings of the training captions to complete for every image', int(0), 6)
    .option('--extra-opening <words>', 'also complete this opening for every image (repeatable), e.g. "there are three"', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--beam-size <k>', 'beam size of the searches it learns to re-rank', int(1), 4)
    .option('--hidden <n>', 'hidden units of the network', int(1), 128)
    .option('--ensemble <n>', 'networks fitted from successive seeds; their mean score ranks (stored as one network n times as wide)', int(1), 1)
    .option('--bigram-min-count <n>', 'bigrams seen at least this often among the training candidates become features (0: none)', int(0), 20)
    .option('--epochs <n>', 'passes over the training candidates', int(1), 20)
    .option('--lr <rate>', 'learning rate (Adam)', positive(), 1e-3)
    .option('--seed <n>', 'initialisation and shuffling seed', int(0), 1)
    .option('--workers <n>', 'threads building the candidates (each with its own copy of the model) and fitting the --ensemble networks (default: one per core on wasm and cpu, one on native and GPU backends)', int(1))
    .action(
      action('rerank-train', async (o: RerankTrainCliOptions) => {
        const info = await setupBackend(o.backend);
        const dataset = await loadData(o);
        const abort = new AbortController();
        const removeHandlers = stopOnSignals(async () => abort.abort(), (line) => console.error(line), undefined, {
          finishing: 'stopping; nothing is written',
          onExit: `${resolve(o.model)} is unchanged`,
        });
        try {
          await logEvents(
            trainReranker({
              modelDir: resolve(o.model), dataset, trainImages: o.trainLimit, valImages: o.valLimit, openings: o.openings,
              extraOpenings: o.extraOpening.map((w) => w.trim().split(/\s+/)),
              beamSize: o.beamSize, hidden: o.hidden, ensemble: o.ensemble, bigramMinCount: o.bigramMinCount, epochs: o.epochs, learningRate: o.lr, seed: o.seed,
              threads: o.workers ?? threadsFor(info), signal: abort.signal,
            }),
            describeRerankerEvent,
          );
        } catch (err) {
          userFacing(err);
        } finally {
          removeHandlers();
        }
      }),
    );
}
