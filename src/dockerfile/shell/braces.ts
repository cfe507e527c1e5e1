/**
 * `${NAME<modifier>word}` and `${NAME/pattern/replacement}`: the frame that
 * waits for the nested word(s) of one, and the value it then has.
 * @module
 */
import { LexFailure } from './failure.js';
import { PatternError, replacePattern, trimPrefix, trimSuffix } from './pattern.js';

/**
 * A `${…}` whose nested word is being read: `${NAME<modifier>word}`, or
 * `${NAME/pattern/replacement}` (`//` for every match), which reads two.
 */
export class BraceFrame {
  /** For a replacement: the pattern, once read; the replacement is read after it. */
  pattern: string | undefined;
  constructor(
    readonly start: number,
    readonly name: string,
    readonly kind: 'modifier' | 'replace-first' | 'replace-all',
    /** The modifier's operator character (`-` `+` `?` `#` `%`, or whatever BuildKit will reject). */
    readonly op: number,
    /** The modifier as written (`:-`, `%`), to rebuild the text of an unset variable. */
    readonly modifier: string,
    readonly nullIsUnset: boolean,
  ) {}

  /** True while the pattern of a replacement is being read. */
  get readingPattern(): boolean {
    return this.kind !== 'modifier' && this.pattern === undefined;
  }

  /** What BuildKit reports when the input ends inside the nested word being read. */
  atEnd(): LexFailure {
    if (this.readingPattern) {
      return new LexFailure('missing-slash', "syntax error: missing '/' in ${}", this.start);
    }
    return new LexFailure('missing-brace', "syntax error: missing '}'", this.start);
  }
}

/**
 * The value of a `${…}` once its nested word (for a replacement, the
 * replacement) is read; `value` is the variable's, undefined when unset.
 * @throws {LexFailure}
 */
export function substitute(brace: BraceFrame, word: string, value: string | undefined, skipUnsetEnv: boolean): string {
  const { name, start, op, modifier, nullIsUnset } = brace;
  if (brace.kind !== 'modifier') {
    const pattern = brace.pattern!;
    // BuildKit rebuilds an unset `${NAME//p/r}` with a single slash.
    if (value === undefined && skipUnsetEnv) return `\${${name}/${pattern}/${word}}`;
    const all = brace.kind === 'replace-all';
    return withPattern(start, name, () => replacePattern(pattern, value ?? '', word, all));
  }
  if (value === undefined && skipUnsetEnv) return `\${${name}${modifier}${word}}`;
  const unset = value === undefined || (nullIsUnset && value === '');

  switch (op) {
    case 0x2d: // -
      return unset ? word : value!;
    case 0x2b: // +
      return unset ? '' : word;
    case 0x3f: // ?
      if (value === undefined) {
        throw new LexFailure('unset-variable', `${name}: ${word || 'is not allowed to be unset'}`, start, name);
      }
      if (nullIsUnset && value === '') {
        throw new LexFailure('empty-variable', `${name}: ${word || 'is not allowed to be empty'}`, start, name);
      }
      return value;
    case 0x23: // #
    case 0x25: {
      // A doubled operator (## or %%) asks for the longest match; the
      // check is on the expanded word, as BuildKit does it.
      const operator = String.fromCharCode(op);
      const greedy = word.startsWith(operator);
      const pattern = greedy ? word.slice(1) : word;
      return withPattern(start, name, () =>
        op === 0x25 ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy),
      );
    }
    default:
      // `${NAME:x…}`: BuildKit reads the word before it rejects the operator.
      throw new LexFailure('unsupported-modifier', `unsupported modifier (${modifier}) in substitution`, start, name);
  }
}

function withPattern(start: number, name: string, run: () => string): string {
  try {
    return run();
  } catch (err) {
    if (!(err instanceof PatternError)) throw err;
    if (err.tooComplex) throw new LexFailure('pattern-too-complex', err.message, start, name);
    throw new LexFailure(
      'invalid-pattern',
      `invalid pattern (${err.pattern}) in substitution: ${err.message}`,
      start,
      name,
    );
  }
}
