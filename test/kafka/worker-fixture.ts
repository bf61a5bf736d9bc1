import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { readRecords, testClient, waitFor } from './broker-env.js';
import { saveTinyModel, testPng } from './tiny-model.js';
import type { CaptionRecordValue } from '../../src/kafka/formats.js';

const childScript = fileURLToPath(new URL('../../src/cli/commands/kafka.ts', import.meta.url));

export type WorkerProcess = ChildProcess & { output: string[] };

/**
 * Registers the hooks of a Kafka test suite that runs `captioner kafka` worker processes on a tiny
 * random model: a temp dir with the model, SIGKILL of every worker after each test, cleanup after all.
 * Call inside a describe block.
 */
export function useKafkaWorkers(brokers: string[]) {
  const client = testClient(brokers);
  const admin = client.admin();
  const children = new Set<WorkerProcess>();
  const state = { dir: '', modelDir: '' };

  beforeAll(async () => {
    state.dir = await mkdtemp(join(tmpdir(), 'kafka-pipe-'));
    state.modelDir = join(state.dir, 'model');
    await saveTinyModel(state.modelDir);
  });
  afterEach(() => {
    for (const c of children) c.kill('SIGKILL');
    children.clear();
  });
  afterAll(async () => {
    await admin.stop();
    await rm(state.dir, { recursive: true, force: true });
  });

  /** Starts `captioner kafka` in a child process; resolves once it consumes. */
  const startWorker = async (args: string[]): Promise<WorkerProcess> => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript, '--brokers', brokers.join(','), '--model', state.modelDir,
      '--workers', '1', '--backend', 'cpu', '--session-timeout', '6000', '--max-batch', '4', '--beam-size', '1', '--log-level', 'nothing', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] }) as WorkerProcess;
    children.add(child);
    child.output = [];
    child.stdout!.on('data', (d: Buffer) => child.output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => child.output.push(d.toString()));
    await waitFor(() => child.output.join('').includes('consuming ') || child.exitCode !== null, 'worker start', 45000);
    if (child.exitCode !== null) throw new Error(`worker exited: ${child.output.join('')}`);
    return child;
  };

  const produceImages = async (topic: string, ids: string[]): Promise<void> => {
    const producer = client.producer();
    const values = await Promise.all(ids.map((_, i) => testPng(i)));
    await producer.send(topic, ids.map((id, i) => ({ key: id, value: values[i]!, headers: { 'content-type': 'image/png' } })));
    await producer.stop();
  };

  const outputIds = async (topic: string, atLeast: number): Promise<Set<string>> =>
    new Set((await readRecords(client, topic, atLeast)).map((r) => (JSON.parse(r.value!.toString()) as CaptionRecordValue).id));

  return { client, admin, state, startWorker, produceImages, outputIds };
}
