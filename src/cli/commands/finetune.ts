import { resolve } from 'node:path';
import { Command } from 'commander';
import { selfCriticalTrain, type SelfCriticalEvent } from '../../../pipelines/self-critical.js';
import { planStepWorkers, threadsFor } from '../../runtime/worker-entry.js';
import { atLeast, int, loadData, positive, setupBackend, withBackend, withData, type DataOptions } from '../options.js';
import { logEvents, userFacing } from '../log-events.js';
import { stopOnSignals } from '../stop-on-signals.js';
import { UserError, action } from '../user-error.js';

interface FinetuneCliOptions extends DataOptions {
  model: string;
  out: string;
  maxSteps?: number;
  maxMinutes?: number;
  batchSize: number;
  candidates: number;
  lr: number;
  validateEvery: number;
  valLimit: number;
  patience: number;
  attentionEntropy: number;
  attentionGuidance: number;
  guidanceSharpness: number;
  seed: number;
  workers?: number;
  backend?: string;
}

const pct = (x: number) => (100 * x).toFixed(2);

/** One log line per event (steps every 25). */
export function describeSelfCritical(e: SelfCriticalEvent): string | undefined {
  switch (e.kind) {
    case 'step':
      return e.step % 25 === 0 ? `step ${e.step} (epoch ${e.epoch + 1}): mean reward ${e.reward.toFixed(3)}, ${e.rows} captions with an advantage, ${e.imagesPerSec.toFixed(1)} images/s` : undefined;
    case 'validation':
      return `step ${e.step} validation: BLEU-4 ${pct(e.bleu4)} ${e.best ? '(best so far, saved)' : `(best ${pct(e.bestBleu4)})`}`;
    case 'done':
      return `self-critical training stopped (${e.reason}) after ${e.steps} steps, ${e.minutes.toFixed(1)} min; validation BLEU-4 ${pct(e.initialBleu4)} -> ${pct(e.bestBleu4)} (best at step ${e.bestStep})`;
  }
}

/** `captioner finetune`: self-critical fine-tuning of a trained model towards whole captions a reference would say. */
export function finetuneCommand(): Command {
  const cmd = new Command('finetune')
    .description('self-critical fine-tuning (SCST) of a trained model: beam-search k captions per training image, reward each by its BLEU-4 against the reference it matches best, and make the better ones more likely; only the decoder learns')
    .requiredOption('--model <dir>', 'trained model to start from (read only)')
    .requiredOption('--out <dir>', 'where the best fine-tuned model is saved (validation BLEU-4 never worse than the start)');
  withData(cmd);
  withBackend(cmd);
  return cmd
    .option('--max-steps <n>', 'stop after n steps', int(1))
    .option('--max-minutes <m>', 'stop after m minutes', positive())
    .option('--batch-size <n>', 'training images per step', int(1), 16)
    .option('--candidates <k>', 'captions searched per image (beam size); their mean reward is the baseline', int(2), 5)
    .option('--lr <rate>', 'decoder learning rate (Adam)', positive(), 1.5e-4)
    .option('--validate-every <n>', 'steps between validations', int(1), 100)
    .option('--val-limit <n>', 'validation images (the first of the val split)', int(1), 500)
    .option('--patience <n>', 'stop after n validations without a better BLEU-4', int(1), 5)
    .option('--attention-entropy <w>', 'weight of the attention entropy on the searched captions (off: on the default model it held BLEU-4 down)', atLeast(0), 0)
    .option('--attention-guidance <w>', 'weight of detector-guided attention on the searched captions (needs a word detector; off, as above)', atLeast(0), 0)
    .option('--guidance-sharpness <k>', 'exponent of the guidance teacher', atLeast(1), 1)
    .option('--seed <n>', 'shuffling seed', int(0), 1)
    .option('--workers <n>', 'threads per step: worker threads with their own copy of the model search, reward and differentiate shares of every batch (default: one per core on wasm and cpu, one on native and GPU backends)', int(1))
    .action(
      action('finetune', async (o: FinetuneCliOptions) => {
        if (o.maxSteps === undefined && o.maxMinutes === undefined) throw new UserError('pass --max-steps N or --max-minutes M: fine-tuning otherwise runs until --patience validations pass without improving');
        if (resolve(o.out) === resolve(o.model)) throw new UserError(`--out ${o.out} is the --model directory: write the fine-tuned model elsewhere, so the one it started from stays`);
        // The model's scale is known only once it loads: one worker with every core, unless --workers.
        planStepWorkers(o.workers, 'large');
        const info = await setupBackend(o.backend);
        const dataset = await loadData(o);
        const abort = new AbortController();
        const removeHandlers = stopOnSignals(async () => abort.abort(), (line) => console.error(line), undefined, {
          finishing: 'finishing the step in progress, then validating it',
          onExit: `the best model so far is in ${resolve(o.out)}`,
        });
        try {
          await logEvents(
            selfCriticalTrain({
              modelDir: resolve(o.model), outDir: resolve(o.out), dataset,
              maxSteps: o.maxSteps, minutes: o.maxMinutes, batchSize: o.batchSize, candidates: o.candidates, learningRate: o.lr,
              validateEvery: o.validateEvery, valLimit: o.valLimit, patience: o.patience,
              attentionEntropy: o.attentionEntropy, attentionGuidance: o.attentionGuidance, guidanceSharpness: o.guidanceSharpness,
              seed: o.seed, threads: o.workers ?? threadsFor(info), signal: abort.signal,
            }),
            describeSelfCritical,
          );
        } catch (err) {
          userFacing(err);
        } finally {
          removeHandlers();
        }
        console.log(`fine-tuned model: ${resolve(o.out)}`);
      }),
    );
}
