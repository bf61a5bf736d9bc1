import { describe, expect, it } from 'vitest';
import { runScript } from '../cli/run-cli.js';

/**
 * pipelines/default-model.ts replaces the shipped model after a long run, so a bad flag must stop it
 * before anything starts: with a one-line message that names the flag, and nothing written to --work.
 */
describe('default-model.ts flags', () => {
  const refused = async (args: string[], message: RegExp): Promise<void> => {
    const r = await runScript('pipelines/default-model.ts', ['--work', '/nonexistent/captioner-default-model-args', '--install', '/nonexistent/install', ...args]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).not.toMatch(/synthesised/);
  };

  it('refuses empty, negative or all-zero --annotator-weights (or an empty item), naming the flag', async () => {
    await refused(['--annotator-weights', ''], /--annotator-weights '': expected comma-separated weights >= 0, not all 0/);
    await refused(['--annotator-weights', '0,0'], /--annotator-weights '0,0'/);
    await refused(['--annotator-weights', '1,-1'], /--annotator-weights '1,-1'/);
    await refused(['--annotator-weights', '4,,1'], /--annotator-weights '4,,1'/);
  }, 60_000);

  it('refuses two budgets, an unknown flag, and a re-ranker of no networks', async () => {
    await refused(['--minutes', '3', '--steps', '10'], /--minutes and --steps are two budgets/);
    await refused(['--twin-mark'], /Unknown option '--twin-mark'/);
    await refused(['--rerank-networks', '0'], /--rerank-networks 0: expected an integer >= 1/);
  }, 60_000);

  it('refuses search bonuses that are not nats >= 0, or without the twin marks they read', async () => {
    await refused(['--twin-marks', '--group-bonus=-1'], /--group-bonus '-1': expected a number of nats >= 0/);
    await refused(['--twin-marks', '--order-bonus', ''], /--order-bonus '': expected a number of nats >= 0/);
    await refused(['--order-bonus', '5'], /--group-bonus and --order-bonus read the twin marks: pass --twin-marks too/);
  }, 60_000);
});
