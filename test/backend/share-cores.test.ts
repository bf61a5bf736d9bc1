import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { shareCoresAmong } from '../../src/backend/share-cores.js';
import { modelScale, threadsFor } from '../../src/runtime/worker-entry.js';

describe('shareCoresAmong', () => {
  it('gives each instance its share of the cores, at least one thread', () => {
    const one: NodeJS.ProcessEnv = {};
    shareCoresAmong(1, one);
    expect(one).toEqual({ TF_NUM_INTRAOP_THREADS: String(availableParallelism()), TF_NUM_INTEROP_THREADS: String(availableParallelism()) });
    const perCore: NodeJS.ProcessEnv = {};
    shareCoresAmong(availableParallelism(), perCore);
    expect(perCore).toEqual({ TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1' });
    const many: NodeJS.ProcessEnv = {};
    shareCoresAmong(availableParallelism() * 4, many);
    expect(many.TF_NUM_INTRAOP_THREADS).toBe('1');
  });

  it('keeps what the user set', () => {
    const env: NodeJS.ProcessEnv = { TF_NUM_INTRAOP_THREADS: '3' };
    shareCoresAmong(availableParallelism(), env);
    expect(env).toEqual({ TF_NUM_INTRAOP_THREADS: '3', TF_NUM_INTEROP_THREADS: '1' });
  });

  it('refuses a count that is not a positive integer', () => {
    expect(() => shareCoresAmong(0, {})).toThrow(/positive integer/);
    expect(() => shareCoresAmong(1.5, {})).toThrow(/positive integer/);
  });
});

describe('threadsFor by model scale', () => {
  const native = { tensorflow: '2.16.2', intraOpThreads: 1, interOpThreads: 1, oneDnn: true };
  it('runs one step worker per core for a compact model on native, one for a large one', () => {
    expect(threadsFor({ gpu: false, native }, 'compact')).toBe(availableParallelism());
    expect(threadsFor({ gpu: false, native }, 'large')).toBe(1);
    expect(threadsFor({ gpu: true, native }, 'compact')).toBe(1);
    expect(threadsFor({ gpu: false }, 'large')).toBe(availableParallelism());
  });

  it('calls the compact CNN compact and every other encoder large', () => {
    expect(modelScale({ encoder: { kind: 'compact-cnn' } })).toBe('compact');
    expect(modelScale({ encoder: { kind: 'resnet' } })).toBe('large');
    expect(modelScale({ encoder: { kind: 'precomputed' } })).toBe('large');
  });
});
