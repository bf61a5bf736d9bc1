/** Typed errors of the data layer. Each names the file at fault and says what is wrong with it. */

/** Why an image could not be decoded. */
export type ImageDecodeReason = 'not-found' | 'empty' | 'corrupt' | 'unsupported' | 'too-large';

/**
 * An image that cannot be used: missing, empty, truncated/corrupt, not an image, or larger than the
 * pixel limit. Thrown instead of letting sharp's error (or a crash) escape, so a caption service can
 * reject one file and carry on.
 */
export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
  /** The path, or the name given for a buffer input. */
  readonly file: string;
  readonly reason: ImageDecodeReason;

  constructor(file: string, reason: ImageDecodeReason, detail: string, options?: { cause?: unknown }) {
    super(`${file}: cannot decode image (${reason}): ${detail}`, options);
    this.file = file;
    this.reason = reason;
  }
}

/** A data set file (Karpathy JSON, synthetic data set) that is malformed or inconsistent. */
export class DatasetError extends Error {
  override readonly name = 'DatasetError';
  readonly file: string;

  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.file = file;
  }
}
