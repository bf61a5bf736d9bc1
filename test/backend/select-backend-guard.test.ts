import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { currentBackend, initBackend } from '../../src/backend/index.js';

describe('initBackend after tensors exist', () => {
  it('rejects with how to fix it, then succeeds once they are gone', async () => {
    tf.env().set('IS_TEST', true);
    const early = tf.scalar(1);
    await expect(initBackend('cpu', {})).rejects.toThrow(
      'initBackend must run before any tensor is created, but 1 tensor(s) exist; call it at startup',
    );
    expect(currentBackend()).toBeUndefined();
    early.dispose();
    expect((await initBackend('cpu', {})).name).toBe('cpu');
  });
});
