import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { threadsFor } from '../../src/runtime/worker-entry.js';
import { runCli } from './run-cli.js';
import { SUITE_BACKEND, SUITE_TF_BACKEND } from '../fixtures/suite-backend.js';

/** The README's quick start runs `captioner demo`: it must work end to end, here with a short budget. */
describe('captioner demo (the quick start)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-demo-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('captions fresh scenes with the shipped model, trains a small one, captions with it, and serves the training dashboard', async () => {
    const out = join(dir, 'demo');
    const r = await runCli(['demo', '--out', out, '--count', '60', '--minutes', '0.1', '--captions', '2', '--feed-port', '0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^backend: ${SUITE_BACKEND} `, 'm'));
    expect(r.stdout).toMatch(/^0\/3 the shipped default model \(.*models\/default, id [0-9a-f]{12}\) on 2 scenes it never saw:$/m);
    // Every caption of the shipped model is checked against its scene, whatever the verdict.
    expect(r.stdout.match(/^ {4}model: {5}.+ {3}\((every claim true of the scene|wrong: .+)\)$/gm)).toHaveLength(2);
    expect(r.stdout).toMatch(/^dashboard: http:\/\/127\.0\.0\.1:\d+\/$/m);
    // Training uses every core (one step worker per core, on native each with one TensorFlow thread), and
    // validation on the synthetic scenes reports their grounding.
    const threads = threadsFor({ gpu: false, native: SUITE_TF_BACKEND === 'tensorflow' ? {} : undefined }, 'compact');
    if (threads > 1) expect(r.stdout).toMatch(new RegExp(`, ${threads} threads per step$`, 'm'));
    else expect(r.stdout).not.toMatch(/ threads per step$/m);
    expect(r.stdout).toMatch(/^ {2}scenes: content [\d.]+, complete [\d.]+, objects named [\d.]+, attention hits [\d.]+$/m);
    expect(r.stdout).toMatch(/^3\/3 captioning 2 test images/m);
    const figures = [...r.stdout.matchAll(/attention: (\S+\.png)/g)].map((m) => m[1]!);
    expect(figures).toHaveLength(4);
    for (const f of figures) expect(existsSync(f), f).toBe(true);
    expect(r.stdout).toMatch(/^done in \d+\.\d min/m);
  }, 180_000);
});
