/**
 * The Kafka service against a broker that goes away: a broker of the test's own (port 39392, so the
 * shared CI broker is never touched) is stopped and started mid-stream. Two broker cycles in all:
 * the outage drill (pipelines/bench/kafka-outage.ts, a few hundred records counted per key) and
 * SIGTERM while the broker is down. The start-up wait needs no broker at all.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OwnBroker, formatOutageReport, runKafkaOutage } from '../../pipelines/bench/kafka-outage.js';
import { kafkaBrokers, unique, waitFor } from './broker-env.js';
import { saveTinyModel } from './tiny-model.js';
import { useKafkaWorkers, type WorkerProcess } from './worker-fixture.js';

const OWN_PORT = 39392;
const cli = fileURLToPath(new URL('../../src/cli/commands/kafka.ts', import.meta.url));

const exitOf = (c: WorkerProcess): Promise<{ code: number | null; at: number }> =>
  c.exitCode !== null ? Promise.resolve({ code: c.exitCode, at: Date.now() }) : new Promise((r) => c.once('exit', (code) => r({ code, at: Date.now() })));

describe('captioner kafka with no broker at start', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kafka-absent-'));
    await saveTinyModel(join(dir, 'model'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('logs one line per attempt with backoff, then exits 1 with a clear message', async () => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', cli, '--brokers', '127.0.0.1:39398', '--in', 'a', '--out', 'b', '--model', join(dir, 'model'), '--no-feed', '--broker-wait-ms', '3000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    const ms = Date.now() - t0;
    expect(code).toBe(1);
    const attempts = out.split('\n').filter((l) => /^\[kafka\] Kafka at 127\.0\.0\.1:39398 not reachable \(attempt \d+: .*ECONNREFUSED.*\); next try in \d+\.\d s, giving up in \d+\.\d s$/.test(l));
    expect(attempts.length).toBeGreaterThanOrEqual(3); // 0.5 s, 1 s, 2 s... within 3 s
    expect(attempts.length).toBeLessThanOrEqual(6);
    expect(out).toMatch(/captioner kafka: Kafka at 127\.0\.0\.1:39398 did not answer within 3 s \(\d+ attempts; last: .*\)\. Check --brokers/);
    expect(out).not.toMatch(/internal error|KafkaJS\w+Error|model /);
    expect(ms).toBeLessThan(15_000);
  }, 30_000);
});

const sharedBrokers = kafkaBrokers(); // the broker toolchain is there (CI=true requires it)

describe.skipIf(!sharedBrokers)('the Kafka service while its broker stops and starts (a broker of its own)', () => {
  const broker = new OwnBroker(OWN_PORT);
  const { admin, state, startWorker, produceImages, outputIds } = useKafkaWorkers([broker.address]);
  beforeAll(async () => {
    await broker.start(true);
  }, 120_000);
  afterAll(async () => {
    await broker.stop();
  }, 60_000);

  it('keeps running through an outage, reports unready while away, resumes by itself; every record ends once (duplicates only in flight)', async () => {
    const report = await runKafkaOutage({ broker, modelDir: state.modelDir, records: 240, outageMs: 5000 });
    console.log(`kafka outage drill:\n${formatOutageReport(report)}`);
    expect(report.missingKeys).toBe(0);
    expect(report.conflictingKeys).toBe(0);
    expect(report.results + report.deadLetters - report.duplicates).toBe(240);
    expect(report.deadLetters - report.duplicates).toBeLessThanOrEqual(report.poison);
    expect(report.deadLetters).toBeGreaterThanOrEqual(report.poison);
    // Only records in flight at the outage repeat: the credit window (16) plus one fetched batch.
    expect(report.duplicatedKeys).toBeLessThanOrEqual(24);
    expect(report.readyWhileAway).toContain('broker-unreachable');
    expect(report.readyWhileAway).not.toContain('ready');
    expect(report.feedSaidUnready).toBe(true);
    expect(report.recoverResultMs).toBeGreaterThanOrEqual(0);
  }, 240_000);

  it('SIGTERM with the broker down: exits within the grace period (a second SIGTERM at once); nothing is lost', async () => {
    const [inT, outT, group] = [unique('sin'), unique('sout'), unique('sg')];
    await admin.ensureTopics([{ topic: inT, partitions: 2 }, { topic: outT }, { topic: `${inT}.dead-letter` }]);
    const ids = Array.from({ length: 60 }, (_, i) => `s-${i}`);
    const args = ['--in', inT, '--out', outT, '--group', group, '--high-water', '8', '--no-feed'];
    const graceful = await startWorker([...args, '--shutdown-grace-ms', '3000']);
    const patient = await startWorker([...args, '--shutdown-grace-ms', '60000']);
    await produceImages(inT, ids);
    await waitFor(async () => (await admin.endOffsets(outT)).reduce((s, o) => s + Number(o.offset), 0) >= 5, 'first results', 60_000);
    const stopMs = await broker.stop();
    const t0 = Date.now();
    graceful.kill('SIGTERM');
    patient.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500)); // past the signal-relay window
    const t1 = Date.now();
    patient.kill('SIGTERM');
    const [g, p] = await Promise.all([exitOf(graceful), exitOf(patient)]);
    const gMs = g.at - t0;
    const pMs = p.at - t1;
    console.log(`SIGTERM with the broker down: exit after ${gMs} ms (grace 3000 ms); second SIGTERM: exit after ${pMs} ms; broker stop took ${stopMs} ms`);
    expect(g.code).toBe(0);
    expect(gMs).toBeLessThan(3000 + 4000);
    expect(graceful.output.join('')).toMatch(/shutdown grace of 3000 ms passed with \d+ record\(s\) in flight; they stay uncommitted/);
    expect(p.code).toBe(130);
    expect(pMs).toBeLessThan(1500);
    expect(patient.output.join('')).toMatch(/SIGTERM again: exiting now/);

    await broker.start();
    await startWorker(args);
    await waitFor(async () => (await admin.lag(group, inT)) === 0, 'lag 0 after the broker came back', 90_000);
    const got = await outputIds(outT, ids.length);
    expect([...got].sort()).toEqual([...ids].sort());
  }, 240_000);
});
