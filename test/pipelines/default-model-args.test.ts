import { describe, expect, it } from 'vitest';
import { runScript } from '../cli/run-cli.js';

/**
 * pipelines/default-model.ts installs a model after a long run, so a bad flag must stop it before
 * anything starts: with a one-line message that names the flag, and nothing written to --work.
 */
describe('default-model.ts flags', () => {
  const refused = async (args: string[], message: RegExp): Promise<void> => {
    const r = await runScript('pipelines/default-model.ts', ['--work', '/nonexistent/captioner-default-model-args', '--install', '/nonexistent/install', ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).not.toMatch(/synthesised/);
  };

  it('refuses two budgets, an unknown flag, a bad step count and too few scenes', async () => {
    await refused(['--minutes', '3', '--steps', '10'], /--minutes and --steps are two budgets/);
    await refused(['--twin-marks'], /Unknown option '--twin-marks'/);
    await refused(['--steps', '2.5'], /--steps 2.5: expected a positive integer/);
    await refused(['--scenes', '10'], /--scenes 10: expected an integer >= 100/);
    await refused(['--finetune-only', '--finetune-steps', '0'], /--finetune-only fine-tunes the installed model/);
  }, 60_000);
});
