import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { currentBackend, initBackend } from '../../src/backend/index.js';
import { resolveRequest } from '../../src/backend/select-backend.js';

const resolvable = (pkg: string): boolean => {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
};
const nativeInstalled = resolvable('@tensorflow/tfjs-node') || resolvable('@tensorflow/tfjs-node-gpu');

describe('resolveRequest', () => {
  it('defaults to auto', () => {
    expect(resolveRequest(undefined, {})).toBe('auto');
    expect(resolveRequest(undefined, { CAPTIONER_BACKEND: '  ' })).toBe('auto');
  });

  it('takes CAPTIONER_BACKEND when the caller does not choose', () => {
    expect(resolveRequest(undefined, { CAPTIONER_BACKEND: 'cpu' })).toBe('cpu');
    expect(resolveRequest('auto', { CAPTIONER_BACKEND: ' wasm ' })).toBe('wasm');
  });

  it('lets an explicit argument win over the variable', () => {
    expect(resolveRequest('node', { CAPTIONER_BACKEND: 'cpu' })).toBe('node');
  });

  it('names the variable and the valid values for a bad CAPTIONER_BACKEND', () => {
    expect(() => resolveRequest(undefined, { CAPTIONER_BACKEND: 'gpu' })).toThrow(
      "CAPTIONER_BACKEND='gpu' is not a backend; set it to one of auto, node-gpu, node, wasm, cpu or unset it",
    );
  });

  it('rejects an unknown argument with the valid values', () => {
    expect(() => resolveRequest('tpu', {})).toThrow("initBackend('tpu'): unknown backend; use one of auto, node-gpu, node, wasm, cpu");
  });
});

describe('initBackend', () => {
  it('rejects a bad CAPTIONER_BACKEND without initializing anything', async () => {
    await expect(initBackend(undefined, { CAPTIONER_BACKEND: 'fast' })).rejects.toThrow(/CAPTIONER_BACKEND='fast'/);
    expect(currentBackend()).toBeUndefined();
  });

  it.skipIf(nativeInstalled)('rejects an explicit native request that cannot load, with the reason, and allows a retry', async () => {
    await expect(initBackend('node', {})).rejects.toThrow(
      /backend 'node' requested but unavailable: @tensorflow\/tfjs-node not loadable/,
    );
    expect(currentBackend()).toBeUndefined();
  });

  it('shares one initialization between concurrent callers and picks the fastest loadable backend', async () => {
    const infos = await Promise.all([initBackend(undefined, {}), initBackend('auto', {}), initBackend(undefined, {})]);
    expect(infos[1]).toBe(infos[0]);
    expect(infos[2]).toBe(infos[0]);
    const info = infos[0];
    expect(currentBackend()).toBe(info);
    expect(tf.getBackend()).toBe(info.tfBackend);
    if (!nativeInstalled) {
      expect(info).toMatchObject({ name: 'wasm', tfBackend: 'wasm', gpu: false });
      // Why the faster backends were skipped is visible to the operator.
      expect(info.description).toMatch(/skipped node-gpu: .*; node: @tensorflow\/tfjs-node not loadable/);
      expect(info.description).toMatch(/training kernels: UnsortedSegmentSum, Conv2DBackpropFilter/);
      expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined();
    }
  });

  it('is idempotent: the same backend again, or auto, resolves to the same info', async () => {
    const info = currentBackend();
    expect(await initBackend(info?.name, {})).toBe(info);
    expect(await initBackend(undefined, {})).toBe(info);
  });

  it('refuses to switch to another backend once initialized', async () => {
    const other = currentBackend()?.name === 'cpu' ? 'wasm' : 'cpu';
    await expect(initBackend(other, {})).rejects.toThrow(
      `initBackend('${other}'): the backend is already initialized as '${currentBackend()?.name}'`,
    );
  });
});
