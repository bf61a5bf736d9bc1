import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { currentBackend, initBackend } from '../../src/backend/index.js';

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('initBackend with CAPTIONER_BACKEND=cpu', () => {
  it('selects cpu and keeps tfjs from advertising the node backend', async () => {
    vi.stubEnv('CAPTIONER_BACKEND', 'cpu');
    const warn = vi.spyOn(console, 'warn');
    const info = await initBackend();
    expect(info).toEqual({ name: 'cpu', tfBackend: 'cpu', gpu: false, description: 'plain JavaScript cpu backend (slow)' });
    expect(currentBackend()).toBe(info);
    const t = tf.tensor([1, 2, 3]).square();
    expect(Array.from(await t.data())).toEqual([1, 4, 9]);
    t.dispose();
    const hints = warn.mock.calls.filter((args) => String(args[0]).includes('node backend'));
    expect(hints).toEqual([]);
  });
});
