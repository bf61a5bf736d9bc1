import { defineConfig } from 'vitest/config';
import { nativeBackendLoads } from './src/backend/native-loads.js';

/**
 * The backend the whole suite runs on, passed to every test process as CAPTIONER_BACKEND so that
 * in-process tests, worker threads and spawned CLIs agree: the variable when set, else the native
 * backend when @tensorflow/tfjs-node loads (npm run setup:native), else wasm. Probed in a child
 * process: importing tfjs-node here would switch this process's tfjs to it.
 */
function suiteBackend(): string {
  const requested = process.env.CAPTIONER_BACKEND?.trim();
  if (requested && requested !== 'auto') return requested;
  return nativeBackendLoads(30_000) ? 'node' : 'wasm';
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    env: { CAPTIONER_BACKEND: suiteBackend() },
    // Each test file gets its own process: tfjs keeps global backend state, and wasm allocations
    // from one file must not count against another file's leak checks.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
