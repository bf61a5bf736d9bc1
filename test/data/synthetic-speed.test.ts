import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { generateSynthetic } from '../../src/data/synthetic/index.js';

// Generation speed matters because training runs regenerate data sets on demand (captioner synth).
it('generates 1000 64x64 scenes in well under a minute (time printed)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'synthetic-speed-'));
  try {
    await generateSynthetic({ outDir: join(dir, 'warm'), count: 2, seed: 1 }); // librsvg setup (~65 ms) not counted
    const t0 = performance.now();
    const out = await generateSynthetic({ outDir: join(dir, 'ds'), count: 1000, seed: 42 });
    const ms = performance.now() - t0;
    console.log(`generateSynthetic: 1000 images in ${(ms / 1000).toFixed(2)} s (${(ms / 1000).toFixed(2)} ms/image)`);
    expect(out.count).toBe(1000);
    expect(ms / 1000).toBeLessThan(30);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
