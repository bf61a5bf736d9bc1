/** A checkpoint directory that cannot be read or written; `dir` names it. */
export class CheckpointError extends Error {
  constructor(
    readonly dir: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`checkpoint ${dir}: ${message}`, options);
    this.name = 'CheckpointError';
  }
}
