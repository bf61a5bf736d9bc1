import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSynthetic } from '../../src/data/index.js';
import { runScript } from '../cli/run-cli.js';

// The README quotes examples/caption-images.ts: it must run as written.
describe('examples/caption-images.ts', () => {
  it('captions files and a buffer with the default model through the library API', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'example-'));
    const ds = await generateSynthetic({ outDir: dir, count: 2, seed: 31 });
    const files = [0, 1].map((i) => join(ds.imageDir, `synth-0000${i}.png`));
    const r = await runScript('examples/caption-images.ts', files).finally(() => rm(dir, { recursive: true, force: true }));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^${files[0]}: \\w+( \\w+)+ \\(score -?\\d+\\.\\d\\d\\)$`));
    // The buffer is the first file again: the same caption.
    expect(lines[2]!.replace(/^buffer: /, '')).toBe(lines[0]!.replace(`${files[0]}: `, ''));
  }, 60_000);

  it('is quoted whole in the README', async () => {
    const [example, readme] = await Promise.all(['examples/caption-images.ts', 'README.md'].map((f) => readFile(new URL(`../../${f}`, import.meta.url), 'utf8')));
    expect(readme).toContain(example!.trim());
  });

  it('refuses to run without images, naming the usage', async () => {
    const r = await runScript('examples/caption-images.ts', []);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/usage: npx tsx examples\/caption-images.ts IMAGE/);
  }, 60_000);
});
