import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropImages, hashedName, makeTinyModel, tempDir, tsxImport, unhashed, waitFor } from './helpers.js';
import { SUITE_BACKEND } from '../fixtures/suite-backend.js';

const fixture = fileURLToPath(new URL('./fixtures/watch-main.ts', import.meta.url));

/** Runs `captioner watch ARGS` in a child; `until` decides when to send SIGTERM (none: let it exit). */
function runWatch(args: string[], cwd: string, until?: () => Promise<boolean>, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', tsxImport(), fixture, ...args], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; stderr: string }>((res) => child.once('exit', (code) => res({ code, stderr })));
  if (until) {
    void waitFor(until, 'the watch condition', 40_000)
      .catch(() => undefined)
      .then(() => child.kill('SIGTERM'));
  }
  return exited;
}

describe('captioner watch options (real child processes)', () => {
  let root: string;
  let modelDir: string;
  beforeAll(async () => {
    root = await tempDir('watch');
    modelDir = await makeTinyModel(root);
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('writes results to --out with attention figures (--figures), taking only --ext files', async () => {
    const inbox = join(root, 'inbox');
    const out = join(root, 'out');
    await mkdir(inbox);
    await dropImages(inbox, 2);
    await sharp({ create: { width: 30, height: 30, channels: 3, background: 'red' } }).jpeg().toFile(join(inbox, 'skip.jpg'));
    const { code, stderr } = await runWatch([inbox, '--model', modelDir, '--out', out, '--figures', '--ext', 'png', '--port', '0', '--workers', '1', '--backend', SUITE_BACKEND], root, async () =>
      (await readdir(out).catch(() => [])).filter((f) => f.endsWith('.json')).length === 2,
    );
    expect(code).toBe(0);
    expect(stderr).toMatch(/stopped: 2 captioned, 0 failed/);
    const files = (await readdir(out)).map(unhashed).sort();
    expect(files).toEqual(['img-000.png.attention.png', 'img-000.png.json', 'img-001.png.attention.png', 'img-001.png.json']);
    const meta = await sharp(await readFile(await hashedName(out, 'img-000.png.attention.png'))).metadata();
    expect(meta.format).toBe('png');
    expect(await readdir(inbox)).toContain('skip.jpg');
  });

  // Once a default model ships with the package this case cannot happen from this checkout.
  it('without --model and without a default model, fails with one clear line', async () => {
    const inbox = join(root, 'empty-inbox');
    await mkdir(inbox);
    const nowhere = join(root, 'no-default-model');
    const { code, stderr } = await runWatch([inbox, '--port', '0'], root, undefined, { ...process.env, CAPTIONER_DEFAULT_MODEL: nowhere });
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(`captioner watch: no --model given and no default model in ${nowhere}; pass --model DIR (train one with \`captioner train --out DIR\` or \`captioner demo\`)`);
  });

  it('names a missing folder and a bad option value', async () => {
    const missing = await runWatch([join(root, 'nope'), '--model', modelDir], root);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope: no such directory/);
    const bad = await runWatch([root, '--max-batch', '0'], root);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--max-batch.*expected an integer >= 1/);
  });

  it('refuses an empty --token and a bad --allow-origin before loading any model', async () => {
    const nowhere = join(root, 'no-model-here');
    const empty = await runWatch([root, '--model', nowhere, '--token', ''], root);
    expect(empty.code).toBe(1);
    expect(empty.stderr.trim()).toBe('captioner watch: --token must not be empty (omit it to run without authentication)');
    const origin = await runWatch([root, '--model', nowhere, '--allow-origin', 'localhost:5173'], root);
    expect(origin.code).toBe(1);
    expect(origin.stderr.trim()).toMatch(/^captioner watch: --allow-origin "localhost:5173" is not an origin; give scheme:\/\/host\[:port\]/);
  });

  it('names --max-file-bytes, an option watch has, when a file is too large', async () => {
    const inbox = join(root, 'inbox-large');
    await mkdir(inbox);
    await dropImages(inbox, 1);
    const failed = join(inbox, 'failed');
    const { code } = await runWatch([inbox, '--model', modelDir, '--max-file-bytes', '20', '--port', '0', '--workers', '1', '--backend', SUITE_BACKEND, '--stable-ms', '200'], root, async () =>
      (await readdir(failed).catch(() => [])).some((f) => f.endsWith('.error.json')),
    );
    expect(code).toBe(0);
    const rec = JSON.parse(await readFile(await hashedName(failed, 'img-000.png.error.json'), 'utf8'));
    expect(rec).toMatchObject({ reason: 'too-large' });
    expect(rec.message).toMatch(/more than the limit of 20 \(raise --max-file-bytes\)$/);
  });
});
