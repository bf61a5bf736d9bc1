import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, testClient, unique } from './broker-env.js';
import { generateSynthetic, loadKarpathy } from '../../src/data/index.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';

const brokers = kafkaBrokers();

function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((res) => child.once('exit', (code) => res({ code, stdout, stderr })));
}

describe.skipIf(!brokers)('captioner train --kafka-topic (real broker)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kafka-train-cli-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('trains on examples read from a topic: path references under --allow-root and a val split', async () => {
    const ds = await generateSynthetic({ outDir: join(dir, 'data'), count: 24, seed: 3 });
    const data = await loadKarpathy(ds.jsonPath, ds.imageDir);
    const topic = unique('train-cli');
    const client = testClient(brokers!);
    const admin = client.admin();
    await admin.ensureTopics([{ topic }]);
    await admin.stop();
    const producer = client.producer();
    await producer.send(topic, [
      ...data.images.map((im) => ({
        value: JSON.stringify({ id: im.id, image: { path: relative(ds.imageDir, im.path) }, captions: im.captions, split: im.split === 'test' ? 'val' : im.split }),
      })),
      { value: JSON.stringify({ id: 'escape', image: { path: '../../../etc/hostname' }, captions: [['a']] }) },
    ]);
    await producer.stop();

    const out = join(dir, 'model');
    const tmp = await mkdtemp(join(dir, 'tmp-'));
    const r = await run([
      'train', '--kafka-topic', topic, '--kafka-brokers', brokers!.join(','), '--allow-root', ds.imageDir, '--out', out,
      '--epochs', '1', '--batch-size', '4', '--steps-per-epoch', '2', '--val-limit', '4', '--beam-size', '1', '--min-word-freq', '0',
      '--channels', '8,16', '--attention-dim', '16', '--embed-dim', '16', '--decoder-dim', '32', '--backend', SUITE_BACKEND, '--no-feed',
    ], { ...process.env, TMPDIR: tmp });
    expect(r.stderr).toMatch(/skipped .*escape|skipped .*outside/i);
    expect(r.code, r.stderr).toBe(0);
    const meta = JSON.parse(await readFile(join(out, 'best', 'model.json'), 'utf8')) as { formatVersion: number };
    expect(meta.formatVersion).toBe(1);
    // The image spool lives only as long as the command.
    expect((await readdir(tmp)).filter((f) => f.startsWith('captioner-kafka-images-'))).toEqual([]);
  }, 120_000);

  it('names the topic when the broker has no such data', async () => {
    const topic = unique('empty');
    const client = testClient(brokers!);
    const admin = client.admin();
    await admin.ensureTopics([{ topic }]);
    await admin.stop();
    const r = await run(['train', '--kafka-topic', topic, '--kafka-brokers', brokers!.join(','), '--out', join(dir, 'none'), '--no-feed']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`captioner train: --kafka-topic ${topic}: no usable training records (0 skipped)`);
  }, 60_000);
});
