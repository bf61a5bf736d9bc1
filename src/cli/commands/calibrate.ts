import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { Split } from '../../data/types.js';
import { calibrateCounting, type CountingCalibration } from '../../../pipelines/calibrate-counting.js';
import { loadData, setupBackend, withBackend, withData, type DataOptions } from '../options.js';
import { UserError, action } from '../user-error.js';

const SPLITS: readonly Split[] = ['train', 'val', 'test'];

function splitList(value: string): Split[] {
  const list = value.split(',').map((s) => s.trim());
  const bad = list.find((s) => !SPLITS.includes(s as Split));
  if (bad !== undefined) throw new InvalidArgumentError(`"${bad}" is not a split (train, val, test)`);
  return list as Split[];
}

/** What a counting calibration found, and whether it took the model's re-ranker with it. */
export function describeCalibration(dir: string, c: CountingCalibration): string {
  const list = c.countable.length > 0 ? `: ${c.countable.join(', ')}` : '';
  const found = `${dir}: ${c.countable.length} of ${c.phrases} phrases count objects (calibrated on ${c.images} ${c.splits.join(' and ')} images)${list}`;
  return c.rerankerDeleted ? `${found}\n${dir}: its learned re-ranker (reranker.json) was trained for the old config and is deleted; train a new one with captioner rerank-train --model ${dir} --data DIR` : found;
}

/** `captioner calibrate`: which phrases of a model's phrase detector count objects, written into the model. */
export function calibrateCommand(): Command {
  const cmd = new Command('calibrate')
    .description("find which phrases of a model's phrase detector count objects, from a split's captions, and write them into the model (re-ranking then stops captions naming one object twice); train does this itself")
    .requiredOption('--model <dir>', 'model directory to calibrate (its model.json is rewritten; weights are untouched)');
  withData(cmd);
  withBackend(cmd);
  return cmd
    .option('--splits <list>', 'splits whose images and captions calibrate, comma-separated (the test split is best left for measuring)', splitList, ['train', 'val'])
    .action(
      action('calibrate', async (o: DataOptions & { model: string; splits: Split[]; backend?: string }) => {
        await setupBackend(o.backend);
        const dataset = await loadData(o);
        const dir = resolve(o.model);
        const result = await calibrateCounting({ modelDir: dir, dataset, splits: o.splits }).catch((err: unknown) => {
          if (err instanceof RangeError) throw new UserError(err.message);
          throw err;
        });
        console.log(describeCalibration(dir, result));
      }),
    );
}
