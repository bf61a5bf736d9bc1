import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { currentBackend } from '../../src/backend/index.js';
import { captionBundledModels, FIXTURE, type RecordedCaption } from './backend-captions.js';

/** Float rounding between backends (native vs wasm measured 1e-5 on these 56 captions). */
const LOG_PROB_TOLERANCE = 1e-3;

describe('the bundled models caption alike on every backend', () => {
  it('gives the captions recorded on wasm, with log-probabilities within rounding, on the suite backend', async () => {
    const recorded = JSON.parse(await readFile(FIXTURE, 'utf8')) as { backend: string; captions: RecordedCaption[] };
    const now = await captionBundledModels();
    expect(recorded.backend).toBe('wasm');
    expect(now.map((c) => `${c.model} ${c.scene}`)).toEqual(recorded.captions.map((c) => `${c.model} ${c.scene}`));
    const backend = currentBackend()?.name;
    now.forEach((c, i) => {
      const want = recorded.captions[i]!;
      expect(c.caption, `${backend}: ${c.model} ${c.scene}`).toBe(want.caption);
      expect(Math.abs(c.logProb - want.logProb), `${backend}: ${c.model} ${c.scene} logProb ${c.logProb} vs ${want.logProb}`).toBeLessThanOrEqual(LOG_PROB_TOLERANCE);
    });
  });
});
