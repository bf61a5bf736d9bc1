/**
 * What more threads buy the two slow stages after training, on the shipped model and fresh synthetic
 * scenes: building the re-ranker's candidate pools (PoolThreads) and self-critical fine-tuning steps
 * (selfCriticalTrain's threads). Each is timed on one thread, then on --threads, in the same run,
 * and the ratio printed: timings on shared machines drift, a ratio within one run much less.
 *
 * Run: npx tsx pipelines/bench/bench-threads.ts [--threads 2] [--images 2000] [--steps 60]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { lastValueFrom, toArray } from 'rxjs';
import { currentBackend, initBackend } from '../../src/backend/index.js';
import { packageRoot } from '../../src/cli/package-root.js';
import { generateSynthetic, loadKarpathy } from '../../src/data/index.js';
import { commonOpenings, loadCheckpoint } from '../../src/model/index.js';
import { threadsFor } from '../../src/runtime/worker-entry.js';
import { PoolThreads } from '../reranker-pool-workers.js';
import { selfCriticalTrain } from '../self-critical.js';

const { values: args } = parseArgs({ options: { threads: { type: 'string' }, images: { type: 'string', default: '2000' }, steps: { type: 'string', default: '60' } } });
const backend = await initBackend();
const threads = Number(args.threads ?? threadsFor(backend));
const images = Number(args.images);
const steps = Number(args.steps);
if (![threads, images, steps].every((n) => Number.isInteger(n) && n >= 1)) throw new RangeError(`expected positive integers --threads, --images, --steps (got ${args.threads}, ${args.images}, ${args.steps})`);
const modelDir = join(packageRoot(), 'models', 'default');
const root = await mkdtemp(join(tmpdir(), 'bench-threads-'));
try {
  // Scenes of a seed no run of the project uses; the train split feeds both stages.
  const ds = await generateSynthetic({ outDir: join(root, 'data'), count: Math.ceil((images * 10) / 8) + 100, seed: 31337 });
  const data = await loadKarpathy(ds.jsonPath, ds.imageDir);
  const train = data.images.filter((im) => im.split === 'train').slice(0, images);
  console.log(`backend ${backend.name}; ${train.length} scenes; 1 thread against ${threads}`);

  const { model, vocab, preprocess } = await loadCheckpoint(modelDir);
  model.reranker = undefined;
  const openings = [...commonOpenings(train.flatMap((im) => im.captions), 6), ['there', 'are', 'two'], ['there', 'are', 'three'], ['two']];
  const poolSeconds = async (n: number): Promise<number> => {
    const pools = await PoolThreads.start({ threads: n, model, vocab, preprocess, modelDir, backend: currentBackend()?.name ?? 'auto', beamSize: 4, maxSteps: 50, openings });
    try {
      const t0 = performance.now();
      await pools.build(train);
      return (performance.now() - t0) / 1000;
    } finally {
      await pools.dispose();
    }
  };
  const [p1, pn] = [await poolSeconds(1), await poolSeconds(threads)];
  model.dispose();
  console.log(`candidate pools: ${(train.length / p1).toFixed(1)} scenes/s on 1 thread, ${(train.length / pn).toFixed(1)} on ${threads}: x${(p1 / pn).toFixed(2)}`);

  // Steps only: validation (one thread either way) is left out of the timing.
  const stepRate = async (n: number): Promise<number> => {
    const events = await lastValueFrom(
      selfCriticalTrain({ modelDir, outDir: join(root, `tuned-${n}`), dataset: data, maxSteps: steps, validateEvery: steps, valLimit: 1, threads: n }).pipe(toArray()),
    );
    const rates = events.flatMap((e) => (e.kind === 'step' && e.step > 1 ? [e.imagesPerSec] : [])).sort((a, b) => a - b);
    return rates[Math.floor(rates.length / 2)]!;
  };
  const [s1, sn] = [await stepRate(1), await stepRate(threads)];
  console.log(`self-critical steps (batch 16, 5 captions each): median ${s1.toFixed(1)} images/s on 1 thread, ${sn.toFixed(1)} on ${threads}: x${(sn / s1).toFixed(2)}`);
} finally {
  await rm(root, { recursive: true, force: true });
}
