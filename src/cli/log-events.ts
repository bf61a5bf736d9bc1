export { logEvents } from '../../pipelines/log-events.js';
import { CheckpointError } from '../model/index.js';
import { UserError } from './user-error.js';

/** A pipeline's RangeError (a bad option or data set) or CheckpointError (a bad model directory) is the user's to fix: one line, no stack. */
export function userFacing(err: unknown): never {
  if (err instanceof RangeError || err instanceof CheckpointError) throw new UserError(err.message);
  throw err;
}
