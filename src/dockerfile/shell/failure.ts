/**
 * The lexer's internal failure, turned into a {@link ShellExpansionError} by
 * `ShellLex` once the word is known to the message.
 * @module
 */
import type { ShellExpansionReason } from './errors.js';

/** An expansion failure: BuildKit's reason and message, and where in the word. */
export class LexFailure {
  constructor(
    readonly reason: ShellExpansionReason,
    readonly detail: string,
    readonly offset: number,
    readonly variable?: string,
  ) {}
}
