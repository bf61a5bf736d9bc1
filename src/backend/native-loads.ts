import { execFileSync } from 'node:child_process';

/**
 * Whether @tensorflow/tfjs-node loads on this machine (built by `npm run setup:native`, or by its own
 * install where it can download). Asked in a child process: importing it here would make it this
 * process's tfjs backend before anyone chose one. Imports nothing of tfjs, so configs may use it.
 */
export function nativeBackendLoads(timeoutMs = 60_000): boolean {
  try {
    execFileSync(process.execPath, ['--input-type=module', '-e', "await import('@tensorflow/tfjs-node')"], { stdio: 'ignore', timeout: timeoutMs });
    return true;
  } catch {
    return false;
  }
}
