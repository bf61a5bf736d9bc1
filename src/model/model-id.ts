import { createHash } from 'node:crypto';
import type { ShowAttendTell } from './show-attend-tell.js';

/** A short, stable id of a model: sha256 over its config and weight bytes, 12 hex digits. */
export function modelIdOf(model: ShowAttendTell): string {
  const hash = createHash('sha256').update(JSON.stringify(model.config));
  for (const { name, variable } of model.namedWeights()) {
    const values = variable.dataSync() as Float32Array;
    hash.update(name).update(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  }
  return hash.digest('hex').slice(0, 12);
}
