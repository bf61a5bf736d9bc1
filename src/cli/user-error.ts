import { ImageDecodeError, DatasetError } from '../data/errors.js';
import { CheckpointError } from '../model/index.js';

/** A mistake the user can fix (a missing file, a bad option value): reported as one line, no stack. */
export class UserError extends Error {
  override readonly name = 'UserError';
}

/** Errors of the library that describe bad input rather than a bug. */
function isUserFacing(err: unknown): err is Error {
  return (
    err instanceof UserError ||
    err instanceof DatasetError ||
    err instanceof ImageDecodeError ||
    err instanceof CheckpointError ||
    // Option and data validation throws RangeError with the constraint and the fix in the message.
    err instanceof RangeError ||
    (err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).path === 'string')
  );
}

/**
 * Wraps a command action: a user-facing error prints `captioner <cmd>: <message>` on one line and
 * exits 1; anything else is a bug and says so (the stack only with CAPTIONER_DEBUG=1).
 */
export function action<A extends unknown[]>(command: string, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const debug = process.env.CAPTIONER_DEBUG === '1';
      const message = oneLine(err instanceof Error ? err.message : String(err));
      if (isUserFacing(err)) {
        console.error(`captioner ${command}: ${err instanceof RangeError ? withFlagNames(message) : message}`);
      } else {
        console.error(`captioner ${command}: internal error: ${message}${debug ? '' : ' (set CAPTIONER_DEBUG=1 for the stack)'}`);
      }
      if (debug && err instanceof Error) console.error(err.stack);
      process.exitCode = 1;
    }
  };
}

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ').trim();

/**
 * The command-line flag of each library option whose name a library error may carry: the library
 * names its option fields, the CLI speaks in its flags.
 */
const OPTION_FLAGS: Readonly<Record<string, string>> = {
  beamSize: '--beam-size',
  maxSteps: '--max-steps',
  returnAlternatives: '--alternatives',
  lengthPenalty: '--length-penalty',
  detectorRerank: '--detector-rerank',
};

/** `message` with each library option name it contains replaced by the flag that sets it. */
export function withFlagNames(message: string): string {
  return message.replace(/\b[a-z][A-Za-z]+\b/g, (word) => (Object.hasOwn(OPTION_FLAGS, word) ? OPTION_FLAGS[word]! : word));
}
