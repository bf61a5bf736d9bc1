import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectNvidiaGpu } from '../../src/backend/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'detect-gpu-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('detectNvidiaGpu', () => {
  it('finds GPUs listed by the driver', async () => {
    const gpus = join(dir, 'gpus');
    await mkdir(join(gpus, '0000:01:00.0'), { recursive: true });
    const probe = await detectNvidiaGpu({ env: {}, procGpusDir: gpus, deviceNode: join(dir, 'nvidia0') });
    expect(probe).toEqual({ visible: true, detail: `1 NVIDIA GPU(s) in ${gpus}` });
  });

  it('finds a device node when the driver directory is absent', async () => {
    const node = join(dir, 'nvidia0');
    await writeFile(node, '');
    const probe = await detectNvidiaGpu({ env: {}, procGpusDir: join(dir, 'none'), deviceNode: node });
    expect(probe.visible).toBe(true);
  });

  it('reports no GPU, and where it looked, when neither exists', async () => {
    const probe = await detectNvidiaGpu({ env: {}, procGpusDir: join(dir, 'none'), deviceNode: join(dir, 'nvidia0') });
    expect(probe.visible).toBe(false);
    expect(probe.detail).toContain(join(dir, 'none'));
  });

  it.each(['', '-1', 'NoDevFiles'])('honours CUDA_VISIBLE_DEVICES=%j hiding every device', async (value) => {
    const gpus = join(dir, 'gpus');
    await mkdir(join(gpus, '0000:01:00.0'), { recursive: true });
    const probe = await detectNvidiaGpu({ env: { CUDA_VISIBLE_DEVICES: value }, procGpusDir: gpus });
    expect(probe.visible).toBe(false);
    expect(probe.detail).toContain('CUDA_VISIBLE_DEVICES');
  });
});
