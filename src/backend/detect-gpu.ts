import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { platform } from 'node:os';

/** Whether an NVIDIA GPU is visible to this process, and how we know. */
export interface GpuProbe {
  visible: boolean;
  /** A short human-readable account: the device found, or why none counts. */
  detail: string;
}

/** Where {@link detectNvidiaGpu} looks; overridable so tests can point it at a temp dir. */
export interface GpuProbeOptions {
  env?: NodeJS.ProcessEnv;
  /** Linux: one entry per GPU the driver knows. Default `/proc/driver/nvidia/gpus`. */
  procGpusDir?: string;
  /** Linux: the first device node. Default `/dev/nvidia0`. */
  deviceNode?: string;
  /** Off Linux there is no cheap file to check, so `nvidia-smi -L` is asked. Default true. */
  useNvidiaSmi?: boolean;
}

/**
 * Looks for an NVIDIA GPU without loading CUDA: importing @tensorflow/tfjs-node-gpu on a machine
 * without one still "works" (libtensorflow falls back to its CPU kernels), so the node-gpu
 * backend is chosen only when a device is visible. CUDA_VISIBLE_DEVICES set to '', '-1' or
 * 'NoDevFiles' hides all devices, as it does for CUDA itself.
 */
export async function detectNvidiaGpu(opts: GpuProbeOptions = {}): Promise<GpuProbe> {
  const env = opts.env ?? process.env;
  const cvd = env.CUDA_VISIBLE_DEVICES;
  if (cvd !== undefined && ['', '-1', 'NoDevFiles'].includes(cvd.trim())) {
    return { visible: false, detail: `CUDA_VISIBLE_DEVICES='${cvd}' hides every GPU` };
  }
  if (platform() === 'linux' || opts.procGpusDir !== undefined || opts.deviceNode !== undefined) {
    const procDir = opts.procGpusDir ?? '/proc/driver/nvidia/gpus';
    const node = opts.deviceNode ?? '/dev/nvidia0';
    const gpus = existsSync(procDir) ? readdirSync(procDir) : [];
    if (gpus.length > 0) return { visible: true, detail: `${gpus.length} NVIDIA GPU(s) in ${procDir}` };
    if (existsSync(node)) return { visible: true, detail: `NVIDIA device ${node}` };
    return { visible: false, detail: `no NVIDIA GPU (${procDir} and ${node} absent)` };
  }
  if (opts.useNvidiaSmi === false) return { visible: false, detail: 'no GPU probe on this platform' };
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['-L'], { timeout: 3000 }, (err, stdout) => {
      const lines = String(stdout).split('\n').filter((l) => l.startsWith('GPU '));
      if (err !== null || lines.length === 0) {
        resolve({ visible: false, detail: `nvidia-smi -L found no GPU${err ? ` (${err.message.split('\n')[0]})` : ''}` });
      } else {
        resolve({ visible: true, detail: lines[0] as string });
      }
    });
  });
}
