import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { describeNative, initBackend, nativeInfo } from '../../src/backend/index.js';
import { ServiceMetrics } from '../../src/sinks/service-metrics.js';
import { replicasFor, threadsFor } from '../../src/runtime/worker-entry.js';

describe('nativeInfo', () => {
  it('reads the thread settings TensorFlow reads, defaulting to the core count', () => {
    expect(nativeInfo({})).toMatchObject({ intraOpThreads: availableParallelism(), interOpThreads: availableParallelism() });
    expect(nativeInfo({ TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '3' })).toMatchObject({ intraOpThreads: 1, interOpThreads: 3 });
    expect(nativeInfo({ TF_NUM_INTRAOP_THREADS: 'x', TF_NUM_INTEROP_THREADS: '0' })).toMatchObject({ intraOpThreads: availableParallelism(), interOpThreads: availableParallelism() });
    expect(nativeInfo({ TF_ENABLE_ONEDNN_OPTS: '0' }).oneDnn).toBe(false);
  });

  it('describes a native backend in one line', () => {
    expect(describeNative({ tensorflow: '2.16.2', intraOpThreads: 2, interOpThreads: 2, oneDnn: true })).toBe(
      'TensorFlow 2.16.2, 2 intra-op / 2 inter-op threads, oneDNN',
    );
  });

  it('reports the loaded TensorFlow on a native backend, and nothing native on wasm or cpu', async () => {
    const info = await initBackend();
    if (info.name === 'node' || info.name === 'node-gpu') {
      expect(info.native?.tensorflow).toMatch(/^\d+\.\d+\.\d+/);
      expect(info.description).toContain(`TensorFlow ${info.native?.tensorflow}, `);
    } else {
      expect(info.native).toBeUndefined();
    }
  });
});

describe('ServiceMetrics backend', () => {
  it('exposes a native backend on /metrics and in the feed stats', async () => {
    const metrics = new ServiceMetrics({ defaultMetrics: false });
    metrics.setBackend({ backend: 'node', tfBackend: 'tensorflow', gpu: false, native: { tensorflow: '2.16.2', intraOpThreads: 2, interOpThreads: 1, oneDnn: true } });
    const text = await metrics.metricsText();
    expect(text).toMatch(/^captioner_backend_info\{backend="node",tf_backend="tensorflow",gpu="false"\} 1$/m);
    expect(text).toMatch(/^captioner_tensorflow_info\{version="2.16.2",intra_op_threads="2",inter_op_threads="1",onednn="true"\} 1$/m);
    expect(metrics.stats()).toMatchObject({ backend: 'node', backendDetail: 'TF 2.16.2, 2 threads' });
  });

  it('has no TensorFlow series and no detail on wasm', async () => {
    const metrics = new ServiceMetrics({ defaultMetrics: false });
    metrics.setBackend({ backend: 'wasm', tfBackend: 'wasm', gpu: false });
    expect(await metrics.metricsText()).not.toMatch(/^captioner_tensorflow_info\{/m);
    expect(metrics.stats()).not.toHaveProperty('backendDetail');
  });
});

describe('threads and replicas per backend', () => {
  it('runs one per core on wasm and cpu, one on a native backend (its thread pool uses every core) and on a GPU', () => {
    const native = { tensorflow: '2.16.2', intraOpThreads: 2, interOpThreads: 2, oneDnn: true };
    expect(threadsFor({ gpu: false })).toBe(availableParallelism());
    expect(replicasFor({ gpu: false })).toBe(availableParallelism());
    expect(threadsFor({ gpu: false, native })).toBe(1);
    expect(replicasFor({ gpu: false, native })).toBe(1);
    expect(replicasFor({ gpu: true, native })).toBe(1);
  });
});
