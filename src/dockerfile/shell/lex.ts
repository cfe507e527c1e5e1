/**
 * Shell-word expansion as BuildKit's lexer does it (`frontend/dockerfile/shell`):
 * quotes, escapes, `$VAR`, `${VAR}` and its modifiers, then optional word
 * splitting. It reproduces BuildKit's answers, quirks included — see the
 * notes on {@link ShellLex.processWords}.
 * @module
 */
import { envLookup, type ShellEnv } from './env.js';
import { ShellExpansionError } from './errors.js';
import { goQuote } from './runes.js';
import { LexFailure } from './failure.js';
import { WordRun } from './word-run.js';

/**
 * How a {@link ShellLex} reads words.
 * @example
 * ```ts
 * // A Dockerfile with `# escape=\``:
 * new ShellLex({ escapeToken: '`' }).processWord('C:\\dir\\`$X', {}); // 'C:\\dir\\$X'
 * ```
 */
export interface ShellLexOptions {
  /** The escape character: `\` (default) or `` ` `` (from `# escape=`). */
  escapeToken?: '\\' | '`';
  /** Keep quote characters in the output (BuildKit's `RawQuotes`). */
  rawQuotes?: boolean;
  /** Keep escape characters in the output (BuildKit's `RawEscapes`). */
  rawEscapes?: boolean;
  /** Treat `'` and `"` as ordinary characters (BuildKit's `SkipProcessQuotes`). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written (BuildKit's `SkipUnsetEnv`). */
  skipUnsetEnv?: boolean;
}

/**
 * The result of {@link ShellLex.processWordWithMatches}.
 * @example
 * ```ts
 * const { word, matched, unmatched } = new ShellLex().processWordWithMatches('${A}${B:-x}', { A: '1' });
 * // word '1x', matched {'A'}, unmatched {'B'}
 * ```
 */
export interface WordExpansion {
  /** The expanded word. */
  word: string;
  /** Names that were looked up and found (set, possibly to `""`). */
  matched: ReadonlySet<string>;
  /** Names that were looked up and not set — BuildKit reports these for undefined build args. */
  unmatched: ReadonlySet<string>;
}

/**
 * A word lexer with BuildKit's rules.
 *
 * - `'…'` keeps everything literally; `"…"` expands `$` and lets the escape
 *   character escape only `"`, `$` and itself; outside quotes the escape
 *   character escapes anything, and a trailing one is dropped.
 * - `$NAME`, `${NAME}`; a name is letters, digits and `_`, or one run of
 *   digits (`$1`), or one special parameter (`$@ $* $# $? $- $$ $! $0`);
 *   positional and special parameters are never set. A `$` without a name
 *   stays a `$`.
 * - `${NAME:-word}` `${NAME-word}` `${NAME:+word}` `${NAME+word}`
 *   `${NAME:?msg}` `${NAME?msg}` `${NAME#p}` `${NAME##p}` `${NAME%p}`
 *   `${NAME%%p}` `${NAME/p/r}` `${NAME//p/r}`; `word` may hold further
 *   expansions. `p` is a shell pattern (`*`, `?`, `\` escapes; no `[…]`;
 *   neither wildcard matches a newline).
 *
 * Nesting has no depth limit: `${A:-${B:-"${C:-…}"}}` is read with a stack of
 * its own, not by recursion, so a word nested 100,000 levels deep expands as
 * BuildKit expands it, in time linear in its length, and no input can
 * overflow the call stack.
 *
 * A lexer holds only its options; every call keeps its own state, so one
 * instance can serve any number of calls.
 *
 * @example
 * ```ts
 * const lex = new ShellLex();
 * lex.processWord('${NAME:-world}.txt', { NAME: '' });   // 'world.txt'
 * lex.processWord('${FILE%.tar.*}', { FILE: 'a.tar.gz' }); // 'a'
 * lex.processWords('cp "$SRC" /dst', { SRC: 'my file' });   // ['cp', 'my file', '/dst']
 * ```
 */
export class ShellLex {
  readonly escapeToken: '\\' | '`';
  readonly rawQuotes: boolean;
  readonly rawEscapes: boolean;
  readonly skipProcessQuotes: boolean;
  readonly skipUnsetEnv: boolean;

  constructor(options: ShellLexOptions = {}) {
    this.escapeToken = options.escapeToken ?? '\\';
    this.rawQuotes = options.rawQuotes ?? false;
    this.rawEscapes = options.rawEscapes ?? false;
    this.skipProcessQuotes = options.skipProcessQuotes ?? false;
    this.skipUnsetEnv = options.skipUnsetEnv ?? false;
  }

  /**
   * Expands `word` as one word (spaces are kept): BuildKit's `ProcessWord`.
   * @throws {ShellExpansionError} on a malformed word or a failed `${VAR?}`.
   * @example
   * ```ts
   * new ShellLex().processWord('"$HOME"/bin', ['HOME=/root']); // '/root/bin'
   * ```
   */
  processWord(word: string, env: ShellEnv): string {
    return this.processWordWithMatches(word, env).word;
  }

  /**
   * Expands `word` and reports which variables it looked up, found or not
   * (BuildKit's `ProcessWordWithMatches`).
   * @throws {ShellExpansionError}
   * @example
   * ```ts
   * const { word, unmatched } = new ShellLex().processWordWithMatches('$A$B', { A: 'x' });
   * // word === 'x', unmatched has 'B'
   * ```
   */
  processWordWithMatches(word: string, env: ShellEnv): WordExpansion {
    const run = new WordRun(this, word, envLookup(env));
    const { result } = expand(run, word, false);
    return { word: result, matched: run.matched, unmatched: run.unmatched };
  }

  /**
   * Expands `word`, then splits it on unquoted, unescaped white space —
   * white space that came out of a variable splits too, as in a shell
   * (BuildKit's `ProcessWords`). Empty quoted words (`""`) vanish.
   *
   * One BuildKit quirk is kept on purpose: a `${…}` with a modifier
   * (`${X:-d}`, `${X#p}`, …) throws away the part of the current word read
   * before it, so `abc${X:-def}` splits to `['def']` where ProcessWord gives
   * `abcdef`.
   * @throws {ShellExpansionError}
   * @example
   * ```ts
   * new ShellLex().processWords('a "b c" $D', { D: 'd e' }); // ['a', 'b c', 'd', 'e']
   * ```
   */
  processWords(word: string, env: ShellEnv): string[] {
    return expand(new WordRun(this, word, envLookup(env)), word, true).words;
  }
}

/** Runs an expansion, turning a failure into the error BuildKit reports. */
function expand(run: WordRun, word: string, split: boolean): { result: string; words: string[] } {
  try {
    return run.run(split);
  } catch (err) {
    if (!(err instanceof LexFailure)) throw err;
    throw new ShellExpansionError(`failed to process ${goQuote(word)}: ${err.detail}`, {
      word,
      offset: err.offset,
      reason: err.reason,
      detail: err.detail,
      ...(err.variable !== undefined ? { variable: err.variable } : {}),
    });
  }
}
