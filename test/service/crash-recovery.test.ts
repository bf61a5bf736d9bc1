import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropImages, makeTinyModel, tempDir, waitFor } from './helpers.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';

const fixture = fileURLToPath(new URL('./fixtures/watch-main.ts', import.meta.url));

/** Starts `captioner watch` as a real child process; resolves once it is watching. */
function startWatch(inbox: string, modelDir: string): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, inbox, '--model', modelDir, '--port', '0', '--workers', '1', '--backend', SUITE_BACKEND, '--max-batch', '2', '--max-delay-ms', '5'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`watch did not start: ${err}`)), 60_000);
    child.once('exit', (code) => rej(new Error(`watch exited with ${code}: ${err}`)));
    const poll = setInterval(() => {
      if (err.includes('watching ')) {
        clearInterval(poll);
        clearTimeout(timer);
        child.removeAllListeners('exit');
        res({ child, stderr: () => err });
      }
    }, 50);
  });
}

const exited = (child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
    : new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));

describe('captioner watch: kill -9 and restart (real child processes)', () => {
  let root: string;
  let modelDir: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    root = await tempDir('crash');
    modelDir = await makeTinyModel(root);
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  it('processes every file exactly once across a kill -9 mid-run and a restart', async () => {
    const inbox = join(root, 'inbox');
    await mkdir(inbox);
    const names = await dropImages(inbox, 80);
    const out = join(inbox, 'captions');
    const results = async (): Promise<string[]> => (await readdir(out).catch(() => [])).filter((f) => f.endsWith('.json'));

    const first = await startWatch(inbox, modelDir);
    children.push(first.child);
    await waitFor(async () => (await results()).length >= 10, 'the first results');
    first.child.kill('SIGKILL');
    expect((await exited(first.child)).signal).toBe('SIGKILL');
    const before = await results();
    expect(before.length).toBeLessThan(80);
    const inFlightAtCrash = await readdir(join(inbox, '.processing'));
    expect(inFlightAtCrash.length).toBeGreaterThan(0); // the crash really was mid-run
    const mtimes = new Map(await Promise.all(before.map(async (f) => [f, (await stat(join(out, f))).mtimeMs] as const)));

    await writeFile(join(out, '.img-999.png.json.tmp-1-abc'), '{"half": '); // as a crash mid-write leaves
    const second = await startWatch(inbox, modelDir);
    children.push(second.child);
    await waitFor(async () => (await readdir(join(inbox, 'processed'))).length === 80, 'all 80 processed', 50_000);
    expect((await results()).sort()).toEqual(names.map((n) => `${n}.json`).sort());
    expect(await readdir(join(inbox, '.processing'))).toEqual([]);
    expect(await readdir(join(inbox, 'failed'))).toEqual([]);
    expect((await readdir(out)).filter((f) => f.startsWith('.'))).toEqual([]);
    // Results that were durable before the crash were not redone.
    for (const [f, m] of mtimes) expect((await stat(join(out, f))).mtimeMs).toBe(m);

    second.child.kill('SIGTERM');
    const end = await exited(second.child);
    expect(end.code).toBe(0);
    expect(second.stderr()).toMatch(/stopped: \d+ captioned, 0 failed, 0 left in the inbox/);
  });
});
