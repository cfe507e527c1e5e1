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

  /**
   * `data` may be left out when every field of `Data` is optional, so a
   * subclass that only narrows `Code` and `Data` needs no constructor.
   */
  constructor(code: Code, message: string, ...[data, options]: ErrorArguments<Data>) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.data = (data ?? {}) as Data;
  }

  /**
   * `FILE:LINE:COL: message` when `data` has a 1-based `line` (and `column`,
   * 1 when absent), followed by the source line and a caret when `data` has
   * `sourceLine`; the bare message otherwise.
   *
   * @example
   * ```ts
   * try { await build({ context: '.' }); } catch (err) {
   *   if (err instanceof LayerkitError) console.error(err.format('app.Dockerfile')); // app.Dockerfile:3:1: …
   * }
   * ```
   */
  format(file = 'Dockerfile'): string {
    const { line, column, sourceLine } = this.data as { line?: unknown; column?: unknown; sourceLine?: unknown };
    if (typeof line !== 'number') return this.message;
    return formatAtPosition(
      file,
      line,
      typeof column === 'number' ? column : 1,
      this.message,
      typeof sourceLine === 'string' ? sourceLine : undefined,
    );
  }

  /** A plain object with name, code, message and data, for logs and IPC. */
  toJSON(): { name: string; code: Code; message: string; data: Data } {
    return { name: this.name, code: this.code, message: this.message, data: this.data };
  }
}

/**
 * Whether `parse` accepts `input`: false when it throws a {@link LayerkitError}
 * (the input is bad); any other error is a bug and propagates.
 *
 * @example
 * ```ts
 * accepts(parseDigest, 'sha256:xyz'); // false
 * ```
 */
export function accepts<T>(parse: (input: T) => unknown, input: T): boolean {
  try {
    parse(input);
    return true;
  } catch (err) {
    if (err instanceof LayerkitError) return false;
    throw err;
  }
}

/**
 * The arguments of a {@link LayerkitError} after code and message: `data`
 * (optional when all its fields are) and the `cause`.
 *
 * @example
 * ```ts
 * class QuotaError extends LayerkitError<'QUOTA', { limit?: number }> {}
 * new QuotaError('QUOTA', 'over quota');                        // data may be left out
 * new QuotaError('QUOTA', 'over quota', { limit: 10 }, { cause }); // or given, with a cause
 * ```
 */
export type ErrorArguments<Data> = {} extends Data
  ? [data?: Data, options?: { cause?: unknown }]
  : [data: Data, options?: { cause?: unknown }];

/**
 * `FILE:LINE:COL: message`, then (when known) the source line and a caret
 * under the column: how every position in a file is shown to a person.
 *
 * @example
 * ```ts
 * formatAtPosition('Dockerfile', 2, 5, 'unknown flag', 'RUN --nope x');
 * // 'Dockerfile:2:5: unknown flag\nRUN --nope x\n    ^'
 * ```
 */
export function formatAtPosition(file: string, line: number, column: number, message: string, sourceLine?: string): string {
  const head = `${file}:${line}:${column}: ${message}`;
  return sourceLine === undefined ? head : `${head}\n${sourceLine}\n${' '.repeat(Math.max(0, column - 1))}^`;
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
