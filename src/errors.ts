/**
 * The root of every error layerkit throws on purpose.
 *
 * Errors are data: each carries a string `code` that callers can switch on
 * (it survives `structuredClone`, worker boundaries and JSON), and a `data`
 * record with the facts that produced it (a path, a line, an expected digest).
 * Subclasses narrow `code` to their own literal union.
 *
 * @example
 * ```ts
 * try {
 *   parseDigest('sha256:xyz');
 * } catch (err) {
 *   if (err instanceof LayerkitError && err.code === 'INVALID_DIGEST') {
 *     console.error(err.message, err.data);
 *   }
 * }
 * ```
 */
export class LayerkitError<
  Code extends string = string,
  Data extends object = Record<string, unknown>,
> extends Error {
  readonly code: Code;
  readonly data: Data;

  constructor(code: Code, message: string, data: Data, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.data = data;
  }

  /** A plain object with name, code, message and data, for logs and IPC. */
  toJSON(): { name: string; code: Code; message: string; data: Data } {
    return { name: this.name, code: this.code, message: this.message, data: this.data };
  }
}

/** Thrown when a string is not a valid `algorithm:hex` digest. */
export class InvalidDigestError extends LayerkitError<'INVALID_DIGEST', { value: string }> {
  constructor(value: string, reason: string) {
    super('INVALID_DIGEST', `invalid digest ${JSON.stringify(value)}: ${reason}`, { value });
  }
}

/**
 * Thrown when content does not hash to the digest (or size) that named it:
 * a corrupt blob, a truncated download, a tampered store.
 */
export class DigestMismatchError extends LayerkitError<
  'DIGEST_MISMATCH',
  { expected: string; actual: string; what: string }
> {
  constructor(what: string, expected: string, actual: string) {
    super('DIGEST_MISMATCH', `${what}: expected ${expected}, got ${actual}`, { expected, actual, what });
  }
}
