/**
 * The error thrown when a shell word cannot be expanded.
 * @module
 */
import { LayerkitError } from '../../errors.js';

/**
 * Why an expansion failed. Each reason maps to one of BuildKit's messages:
 *
 * | reason | BuildKit says |
 * |---|---|
 * | `unterminated-single-quote` | unexpected end of statement while looking for matching single-quote |
 * | `unterminated-double-quote` | unexpected end of statement while looking for matching double-quote |
 * | `unterminated` | unexpected end of statement while looking for matching X |
 * | `missing-brace` | syntax error: missing '}' |
 * | `missing-slash` | syntax error: missing '/' in ${} |
 * | `bad-substitution` | syntax error: bad substitution |
 * | `unsupported-modifier` | unsupported modifier (X) in substitution |
 * | `unset-variable` | NAME: is not allowed to be unset (or the `${NAME?message}` text) |
 * | `empty-variable` | NAME: is not allowed to be empty (or the `${NAME:?message}` text) |
 * | `invalid-pattern` | invalid pattern (P) in substitution: invalid escape '\X' |
 * | `pattern-too-complex` | (layerkit only) a `#`, `%` or `/` pattern whose matching would need more than 2^25 steps |
 */
export type ShellExpansionReason =
  | 'unterminated-single-quote'
  | 'unterminated-double-quote'
  | 'unterminated'
  | 'missing-brace'
  | 'missing-slash'
  | 'bad-substitution'
  | 'unsupported-modifier'
  | 'unset-variable'
  | 'empty-variable'
  | 'invalid-pattern'
  | 'pattern-too-complex';

/** Data carried by {@link ShellExpansionError}. */
export interface ShellExpansionErrorData {
  /** The word as it was given. */
  word: string;
  /**
   * 0-based offset (UTF-16 code units) in `word` of the construct that failed:
   * the opening quote of an unterminated string, the `$` of a bad `${…}`.
   */
  offset: number;
  reason: ShellExpansionReason;
  /** BuildKit's message without the `failed to process "…": ` prefix. */
  detail: string;
  /** The variable named by the failing `${…}`, when there is one. */
  variable?: string;
  /** 1-based line and column of the instruction, when the word came from one. */
  line?: number;
  column?: number;
}

/**
 * A word could not be expanded: an unterminated quote, a malformed `${…}`,
 * a `${VAR?}` on an unset variable, an invalid pattern. The message is
 * BuildKit's, word for word (`failed to process "he${}": syntax error: bad substitution`).
 *
 * @example
 * ```ts
 * try {
 *   new ShellLex().processWord('${HOME:?must be set}', {});
 * } catch (err) {
 *   if (err instanceof ShellExpansionError) {
 *     console.error(err.data.reason, err.data.offset); // 'unset-variable' 0
 *   }
 * }
 * ```
 */
export class ShellExpansionError extends LayerkitError<'SHELL_EXPANSION', ShellExpansionErrorData> {
  constructor(message: string, data: ShellExpansionErrorData, options?: { cause?: unknown }) {
    super('SHELL_EXPANSION', message, data, options);
  }
}
