import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHash, HASH_CHARS, idHash } from '../../src/sources/folder/journal.js';
import { dropImages, imageBytes, makeTinyModel, tempDir, unhashed, waitFor } from './helpers.js';
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
    expect((await results()).map(unhashed).sort()).toEqual(names.map((n) => `${n}.json`).sort());
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

  it('never passes an old result off for a new file with an old name, across SIGTERM, emptied processed/, kill -9 and restart', async () => {
    const inbox = join(root, 'inbox-names');
    await mkdir(inbox);
    const out = join(inbox, 'captions');
    const names = Array.from({ length: 30 }, (_, i) => `synth-${String(i).padStart(3, '0')}.png`);
    // Same names, different pictures: set A is colour i, set B colour 100 + i.
    const drop = async (offset: number): Promise<void> => {
      const staging = join(root, `staging-${offset}`);
      await mkdir(staging);
      for (const [i, n] of names.entries()) await writeFile(join(staging, n), await imageBytes(offset + i));
      for (const n of names) await rename(join(staging, n), join(inbox, n));
    };
    const results = async (): Promise<string[]> => (await readdir(out).catch(() => [])).filter((f) => f.endsWith('.json'));

    await drop(0);
    const first = await startWatch(inbox, modelDir);
    children.push(first.child);
    await waitFor(async () => (await readdir(join(inbox, 'processed'))).length === 30, 'set A processed', 50_000);
    first.child.kill('SIGTERM');
    expect((await exited(first.child)).code).toBe(0);
    const setA = new Map(await Promise.all((await results()).map(async (f) => [f, await readFile(join(out, f), 'utf8')] as const)));
    expect(setA.size).toBe(30);
    await rm(join(inbox, 'processed'), { recursive: true }); // users clean that folder

    const second = await startWatch(inbox, modelDir);
    children.push(second.child);
    await drop(100);
    await waitFor(async () => (await results()).length >= 33, 'the first results of set B');
    second.child.kill('SIGKILL');
    await exited(second.child);
    expect((await readdir(join(inbox, '.processing'))).length).toBeGreaterThan(0); // the crash really was mid-run

    const third = await startWatch(inbox, modelDir);
    children.push(third.child);
    await waitFor(async () => (await readdir(join(inbox, 'processed'))).length === 30, 'set B processed', 50_000);
    third.child.kill('SIGTERM');
    expect((await exited(third.child)).code).toBe(0);

    const all = await results();
    expect(all).toHaveLength(60);
    expect(all.map(unhashed).sort()).toEqual([...names, ...names].map((n) => `${n}.json`).sort());
    // Set A's results are untouched; every other result names a processed input whose bytes match its id.
    for (const [f, text] of setA) expect(await readFile(join(out, f), 'utf8')).toBe(text);
    for (const f of all.filter((x) => !setA.has(x))) {
      const record = JSON.parse(await readFile(join(out, f), 'utf8')) as { id: string; source: string };
      expect(`${record.id}.json`).toBe(f);
      const hash = await contentHash(join(inbox, 'processed', record.id));
      expect(idHash(record.id)).toBe(hash.slice(0, HASH_CHARS));
      expect(hash).toBe(await contentHash(await writeTemp(await imageBytes(100 + names.indexOf(unhashed(record.id))))));
    }
    expect(await readdir(join(inbox, 'failed'))).toEqual([]);
  });

  const writeTemp = async (bytes: Buffer): Promise<string> => {
    const p = join(root, `expected-${Math.random().toString(36).slice(2)}.png`);
    await writeFile(p, bytes);
    return p;
  };
});
