import cliProgress from 'cli-progress';
import type { TrainEvent } from '../../pipelines/train-events.js';

const pct = (x: number) => (100 * Math.max(0, x)).toFixed(2);
const clip = (s: string, n = 90) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const fmtSec = (s: number) => {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
};

/** One line per training milestone, for logs (and as the text beside the progress bar). */
export function describeEvent(e: TrainEvent): string | undefined {
  switch (e.type) {
    case 'train.start':
      return `${e.resumed ? 'resuming at' : 'starting'} epoch ${e.epoch + 1}/${e.epochs}: ${e.trainImages} train / ${e.valImages} val images, ${e.stepsPerEpoch} steps of ${e.batchSize} per epoch, vocabulary ${e.vocabSize}, ${(e.parameters / 1e6).toFixed(2)}M parameters${e.cacheImages ? ', decoded images cached' : ''}${e.workers > 1 ? `, ${e.workers} threads per step` : ''}`;
    case 'train.skipped':
      return `skipped ${e.file}: ${e.reason}`;
    case 'train.epoch':
      return `epoch ${e.epoch + 1}: ${e.steps} steps, mean loss ${e.meanLoss.toFixed(3)}, ${e.examplesPerSec.toFixed(1)} images/s, ${fmtSec(e.durationMs / 1000)}`;
    case 'train.validation': {
      const probe = e.probes[0];
      return (
        `epoch ${e.epoch + 1} validation: BLEU-1..4 ${e.bleu.map(pct).join(' / ')}` +
        ` ${e.improved ? '(best so far)' : `(best ${pct(e.bestBleu4)} at epoch ${e.bestEpoch + 1}, ${e.epochsSinceImprovement} without improvement)`}` +
        `${e.lrDecayed ? `, learning rate decayed to ${e.learningRate.toExponential(2)}` : ''}` +
        (e.grounding
          ? `\n  scenes: content ${pct(e.grounding.contentAccuracy)}, complete ${pct(e.grounding.completeAccuracy)}, objects named ${pct(e.grounding.objectCoverage)}, attention hits ${pct(e.grounding.hitRate)}`
          : '') +
        (probe ? `\n  e.g. ${probe.id}: "${clip(probe.caption)}"  (reference: "${clip(probe.references[0] ?? '')}")` : '')
      );
    }
    case 'train.end':
      return `training ${e.reason}${e.limit ? ` (${e.limit} limit)` : ''} after ${e.epochs} epochs, ${e.steps} steps, ${fmtSec(e.durationMs / 1000)}; best BLEU-4 ${pct(e.bestBleu4)} at epoch ${e.bestEpoch + 1}: ${e.bestDir}`;
    default:
      return undefined;
  }
}

/**
 * Shows training progress: a bar per epoch (loss, images/s, ETA) on an interactive terminal, plain
 * log lines (a step line every `every` steps) when stdout is not a TTY or CI is set.
 */
export function trainProgress(opts: { interactive?: boolean; every?: number } = {}): { next(e: TrainEvent): void; stop(): void } {
  const interactive = opts.interactive ?? (Boolean(process.stdout.isTTY) && !process.env.CI);
  const every = opts.every ?? 10;
  let bar: cliProgress.SingleBar | undefined;
  const stopBar = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    next(e) {
      if (e.type === 'train.step') {
        const payload = { loss: e.loss.toFixed(3), eps: e.examplesPerSec.toFixed(1), etaRun: fmtSec(e.etaSec), epoch: e.epoch + 1 };
        if (interactive) {
          if (!bar) {
            bar = new cliProgress.SingleBar(
              { format: 'epoch {epoch} |{bar}| {value}/{total} steps | loss {loss} | {eps} img/s | run ETA {etaRun}', hideCursor: true, clearOnComplete: true },
              cliProgress.Presets.shades_classic,
            );
            bar.start(e.stepsPerEpoch, 0, payload);
          }
          bar.update(e.stepInEpoch, payload);
        } else if (e.stepInEpoch % every === 0 || e.stepInEpoch === 1) {
          console.log(`epoch ${e.epoch + 1} step ${e.stepInEpoch}/${e.stepsPerEpoch} (total ${e.step}): loss ${payload.loss}, ${payload.eps} images/s, lr ${e.learningRate.toExponential(2)}, run ETA ${payload.etaRun}`);
        }
        return;
      }
      const line = describeEvent(e);
      if (line === undefined) return;
      if (e.type === 'train.epoch' || e.type === 'train.end') stopBar();
      if (bar) bar.stop();
      console.log(line);
      if (bar) bar = undefined;
    },
    stop: stopBar,
  };
}
