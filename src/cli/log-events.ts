import { lastValueFrom, tap, type Observable } from 'rxjs';
import { CheckpointError } from '../model/index.js';
import { UserError } from './user-error.js';

/** Runs a pipeline's event stream to its end, printing the line `describe` gives each event (none for undefined). */
export async function logEvents<E>(events: Observable<E>, describe: (e: E) => string | undefined): Promise<void> {
  await lastValueFrom(
    events.pipe(
      tap((e) => {
        const line = describe(e);
        if (line) console.log(line);
      }),
    ),
    { defaultValue: undefined },
  );
}

/** A pipeline's RangeError (a bad option or data set) or CheckpointError (a bad model directory) is the user's to fix: one line, no stack. */
export function userFacing(err: unknown): never {
  if (err instanceof RangeError || err instanceof CheckpointError) throw new UserError(err.message);
  throw err;
}
