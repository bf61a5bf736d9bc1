import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kafkaBrokers, readRecords, testClient, unique, waitFor } from './broker-env.js';
import { saveTinyModel, testPng } from './tiny-model.js';
import type { CaptionRecordValue } from '../../src/kafka/formats.js';

const brokers = kafkaBrokers();
const childScript = fileURLToPath(new URL('../../src/cli/commands/kafka.ts', import.meta.url));

describe.skipIf(!brokers)('caption-kafka scale-out: two worker processes in one group', () => {
  const client = testClient(brokers ?? []);
  const admin = client.admin();
  const children = new Set<ChildProcess>();
  let dir: string;
  let modelDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kafka-pipe-'));
    modelDir = join(dir, 'model');
    await saveTinyModel(modelDir);
  });
  afterEach(() => {
    for (const c of children) c.kill('SIGKILL');
    children.clear();
  });
  afterAll(async () => {
    await admin.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts `captioner kafka` in a child process; resolves once it consumes. */
  const startWorker = async (args: string[]): Promise<ChildProcess & { output: string[] }> => {
    const child = spawn(process.execPath, ['--import', 'tsx', childScript, '--brokers', brokers!.join(','), '--model', modelDir,
      '--workers', '1', '--backend', 'cpu', '--session-timeout', '6000', '--max-batch', '4', '--beam', '1', '--log-level', 'nothing', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { output: string[] };
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

  it('shares partitions between two workers of one group and finishes everything when one is killed', async () => {
    const [inT, outT, groupId] = [unique('sin'), unique('sout'), unique('sg')];
    await admin.ensureTopics([{ topic: inT, partitions: 4 }, { topic: outT }, { topic: `${inT}.dead-letter` }]);
    const args = ['--in', inT, '--out', outT, '--group', groupId, '--high-water', '4'];
    const a = await startWorker(args);
    await startWorker(args);
    await waitFor(async () => {
      const g = await admin.describeGroup(groupId);
      return g.state === 'Stable' && g.members.length === 2 && g.members.every((m) => m.assignment.length === 2);
    }, 'two members with two partitions each');
    const ids = Array.from({ length: 60 }, (_, i) => `s-${i}`);
    await produceImages(inT, ids);
    await waitFor(async () => (await admin.endOffsets(outT)).reduce((s, o) => s + Number(o.offset), 0) >= 3, 'first results');
    a.kill('SIGKILL');
    expect(await admin.lag(groupId, inT)).toBeGreaterThan(0); // killed mid-stream
    // After the session timeout the broker evicts the dead member and the survivor takes all four.
    await waitFor(async () => {
      const g = await admin.describeGroup(groupId);
      return g.state === 'Stable' && g.members.length === 1 && g.members[0]!.assignment.length === 4;
    }, 'the survivor owning all partitions', 30000);
    await waitFor(async () => (await admin.lag(groupId, inT)) === 0, 'lag 0 with the survivor', 60000);
    const got = await outputIds(outT, ids.length);
    expect([...got].sort()).toEqual([...ids].sort());
  }, 120_000); // two worker start-ups, an eviction and a take-over: generous for a loaded CI machine
});
