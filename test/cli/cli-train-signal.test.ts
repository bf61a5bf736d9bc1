import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('captioner train and Ctrl-C', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-signal-'));
    expect((await runCli(['synth', '--out', join(dir, 'data'), '--count', '40', '--seed', '4'])).code).toBe(0);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const trainArgs = (model: string): string[] => ['train', '--data', join(dir, 'data'), '--out', model, '--epochs', '50', '--batch-size', '2', '--val-limit', '2',
    '--channels', '8,8,8,8', '--attention-dim', '8', '--embed-dim', '8', '--decoder-dim', '16', '--no-feed'];

  /** Starts training and sends `signal` once the first step is reported; resolves with exit code and stdout. */
  const trainThenSignal = async (args: string[], signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string }> => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root, env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let signalled = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!signalled && /epoch 1 step 1\//.test(stdout)) {
        signalled = true;
        child.kill(signal);
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, stdout };
  };

  it('SIGINT stops after the current step, validates and saves last/, exits 0; --resume then continues', async () => {
    const model = join(dir, 'model');
    const args = trainArgs(model);
    const { code, stdout } = await trainThenSignal(args, 'SIGINT');
    expect(code).toBe(0);
    expect(stdout).toMatch(/stopping after the current step/);
    expect(stdout).toMatch(/epoch 1 validation/);
    expect(stdout).toMatch(/training stopped after 1 epochs/);
    expect((await readdir(model)).sort()).toEqual(['best', 'last']);

    const resumed = await runCli([...args.map((a) => (a === '50' ? '2' : a)), '--resume', '--steps-per-epoch', '1']);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/resuming at epoch 2\/2/);
    expect(resumed.stdout).toMatch(/training completed \(epochs limit\) after 2 epochs/);
  }, 90_000);

  it('SIGTERM stops as gracefully as Ctrl-C: the epoch is validated and last/ saved', async () => {
    const model = join(dir, 'model-term');
    const { code, stdout } = await trainThenSignal(trainArgs(model), 'SIGTERM');
    expect(code).toBe(0);
    expect(stdout).toMatch(/training stopped after 1 epochs/);
    expect((await readdir(model)).sort()).toEqual(['best', 'last']);
  }, 90_000);
});
