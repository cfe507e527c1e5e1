/**
 * Shell-word expansion as BuildKit's lexer does it (`frontend/dockerfile/shell`):
 * quotes, escapes, `$VAR`, `${VAR}` and its modifiers, then optional word
 * splitting. It reproduces BuildKit's answers, quirks included — see the
 * notes on {@link ShellLex.processWords}.
 * @module
 */
import { envLookup, type ShellEnv } from './env.js';
import { ShellExpansionError, type ShellExpansionReason } from './errors.js';
import { PatternError, replacePattern, trimPrefix, trimSuffix } from './pattern.js';
import { decodeRunes, EOF, goQuote, isDigit, isLetter, isSpace, runeString } from './runes.js';

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

/** An expansion failure inside the lexer, before the word is known to the message. */
class LexFailure {
  constructor(
    readonly reason: ShellExpansionReason,
    readonly detail: string,
    readonly offset: number,
    readonly variable?: string,
  ) {}
}

const DOLLAR = 0x24;
const SINGLE_QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const LESS = 0x3c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COLON = 0x3a;
const SLASH = 0x2f;

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
    const { result } = run.process();
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
    return new WordRun(this, word, envLookup(env)).process().words;
  }
}

/**
 * Splits characters into words. BuildKit's word splitter shares one buffer
 * for the word in progress between nested calls, and each call starts by
 * clearing it; `shared.buffer` reproduces that.
 */
class WordSplitter {
  readonly words: string[] = [];
  private inWord = false;

  constructor(private readonly shared: { buffer: string }) {
    shared.buffer = '';
  }

  addChar(rune: number): void {
    if (isSpace(rune)) {
      if (this.inWord && this.shared.buffer.length !== 0) {
        this.words.push(this.shared.buffer);
        this.shared.buffer = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(rune);
    }
  }

  addRawChar(rune: number): void {
    this.shared.buffer += runeString(rune);
    this.inWord = true;
  }

  addString(text: string): void {
    for (const rune of decodeRunes(text).runes) this.addChar(rune);
  }

  addRawString(text: string): void {
    this.shared.buffer += text;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.shared.buffer.length > 0) {
      this.words.push(this.shared.buffer);
      this.shared.buffer = '';
      this.inWord = false;
    }
    return this.words;
  }
}

/** The state of one expansion call. */
class WordRun {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly runes: number[];
  private readonly offsets: number[];
  private pos = 0;
  private readonly escape: number;
  private rawEscapes: boolean;
  private readonly shared = { buffer: '' };

  constructor(
    private readonly lex: ShellLex,
    private readonly source: string,
    private readonly lookup: (name: string) => string | undefined,
  ) {
    const decoded = decodeRunes(source);
    this.runes = decoded.runes;
    this.offsets = decoded.offsets;
    // Go's text/scanner skips a byte-order mark at the start of its input.
    if (this.runes[0] === 0xfeff) this.pos = 1;
    this.escape = lex.escapeToken.codePointAt(0)!;
    this.rawEscapes = lex.rawEscapes;
  }

  process(): { result: string; words: string[] } {
    try {
      return this.processStopOn(EOF, this.rawEscapes);
    } catch (err) {
      if (err instanceof LexFailure) {
        throw new ShellExpansionError(`failed to process ${goQuote(this.source)}: ${err.detail}`, {
          word: this.source,
          offset: err.offset,
          reason: err.reason,
          detail: err.detail,
          ...(err.variable !== undefined ? { variable: err.variable } : {}),
        });
      }
      throw err;
    }
  }

  private peek(): number {
    return this.pos < this.runes.length ? this.runes[this.pos]! : EOF;
  }

  private next(): number {
    return this.pos < this.runes.length ? this.runes[this.pos++]! : EOF;
  }

  /** UTF-16 offset of the rune at `pos` in the source. */
  private offsetOf(pos: number): number {
    return this.offsets[Math.min(pos, this.runes.length)]!;
  }

  /** Reads up to `stopChar` (consumed) or the end; a missing `stopChar` fails. */
  private processStopOn(stopChar: number, rawEscapes: boolean): { result: string; words: string[] } {
    let result = '';
    const words = new WordSplitter(this.shared);
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        const ch = this.peek();
        if (stopChar !== EOF && ch === stopChar) {
          this.next();
          return { result, words: words.finish() };
        }
        const special = this.special(ch);
        if (special) {
          const text = special.call(this);
          result += text;
          if (ch === DOLLAR) words.addString(text);
          else words.addRawString(text);
          continue;
        }
        let rune = this.next();
        if (rune === this.escape) {
          if (this.rawEscapes) {
            words.addRawChar(rune);
            result += runeString(rune);
          }
          rune = this.next();
          if (rune === EOF) break;
          words.addRawChar(rune);
        } else {
          words.addChar(rune);
        }
        result += runeString(rune);
      }
      if (stopChar !== EOF) {
        throw new LexFailure(
          'unterminated',
          `unexpected end of statement while looking for matching ${runeString(stopChar)}`,
          this.offsetOf(this.pos),
        );
      }
      return { result, words: words.finish() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private special(ch: number): (() => string) | undefined {
    if (ch === DOLLAR) return this.processDollar;
    if (ch === LESS) return this.processPossibleHeredoc;
    if (!this.lex.skipProcessQuotes) {
      if (ch === SINGLE_QUOTE) return this.processSingleQuote;
      if (ch === DOUBLE_QUOTE) return this.processDoubleQuote;
    }
    return undefined;
  }

  private processSingleQuote(): string {
    const start = this.offsetOf(this.pos);
    let result = '';
    const open = this.next();
    if (this.lex.rawQuotes) result += runeString(open);
    for (;;) {
      const rune = this.next();
      if (rune === EOF) {
        throw new LexFailure(
          'unterminated-single-quote',
          'unexpected end of statement while looking for matching single-quote',
          start,
        );
      }
      if (rune === SINGLE_QUOTE) {
        if (this.lex.rawQuotes) result += runeString(rune);
        return result;
      }
      result += runeString(rune);
    }
  }

  private processDoubleQuote(): string {
    const start = this.offsetOf(this.pos);
    let result = '';
    const open = this.next();
    if (this.lex.rawQuotes) result += runeString(open);
    for (;;) {
      const ch = this.peek();
      if (ch === EOF) {
        throw new LexFailure(
          'unterminated-double-quote',
          'unexpected end of statement while looking for matching double-quote',
          start,
        );
      }
      if (ch === DOUBLE_QUOTE) {
        const close = this.next();
        if (this.lex.rawQuotes) result += runeString(close);
        return result;
      }
      if (ch === DOLLAR) {
        result += this.processDollar();
        continue;
      }
      let rune = this.next();
      if (rune === this.escape) {
        if (this.rawEscapes) result += runeString(rune);
        const following = this.peek();
        // At the end the escape is dropped, and the next turn reports the open quote.
        if (following === EOF) continue;
        if (following === DOUBLE_QUOTE || following === DOLLAR || following === this.escape) rune = this.next();
      }
      result += runeString(rune);
    }
  }

  private processDollar(): string {
    const start = this.offsetOf(this.pos);
    this.next();

    if (this.peek() !== OPEN_BRACE) {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && this.lex.skipUnsetEnv) return '$' + name;
      return value ?? '';
    }

    this.next();
    const first = this.peek();
    if (first === EOF) throw new LexFailure('missing-brace', "syntax error: missing '}'", start);
    if (first === OPEN_BRACE || first === CLOSE_BRACE || first === COLON) {
      throw new LexFailure('bad-substitution', 'syntax error: bad substitution', start);
    }
    const name = this.processName();
    let ch = this.next();
    let modifier = runeString(ch);
    const unsupported = (): LexFailure =>
      new LexFailure('unsupported-modifier', `unsupported modifier (${modifier}) in substitution`, start, name);

    if (ch === CLOSE_BRACE) {
      const value = this.getEnv(name);
      if (value === undefined && this.lex.skipUnsetEnv) return `\${${name}}`;
      return value ?? '';
    }
    if (ch === SLASH) return this.processReplace(name, start);

    let nullIsUnset = false;
    if (ch === COLON) {
      nullIsUnset = true;
      ch = this.next();
      modifier += runeString(ch);
    } else if (!isSimpleModifier(ch)) {
      throw unsupported();
    }

    const isPattern = ch === 0x23 || ch === 0x25; // # %
    if (nullIsUnset && isPattern) throw unsupported();
    const word = this.processNested(CLOSE_BRACE, isPattern, start, 'missing-brace', "syntax error: missing '}'");

    const value = this.getEnv(name);
    if (value === undefined && this.lex.skipUnsetEnv) return `\${${name}${modifier}${word}}`;
    const unset = value === undefined || (nullIsUnset && value === '');

    switch (ch) {
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
        const operator = String.fromCharCode(ch);
        const greedy = word.startsWith(operator);
        const pattern = greedy ? word.slice(1) : word;
        return this.withPattern(start, name, () =>
          ch === 0x25 ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy),
        );
      }
      default:
        throw unsupported();
    }
  }

  /** `${NAME/pattern/replacement}` and `${NAME//pattern/replacement}`, after the first `/`. */
  private processReplace(name: string, start: number): string {
    const all = this.peek() === SLASH;
    if (all) this.next();
    const pattern = this.processNested(SLASH, true, start, 'missing-slash', "syntax error: missing '/' in ${}");
    const replacement = this.processNested(CLOSE_BRACE, true, start, 'missing-brace', "syntax error: missing '}'");
    const value = this.getEnv(name);
    if (value === undefined && this.lex.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
    return this.withPattern(start, name, () => replacePattern(pattern, value ?? '', replacement, all));
  }

  /**
   * Reads a nested word up to `stopChar`. Running out of input anywhere
   * inside is reported as the missing terminator of the outer `${`, as
   * BuildKit does; other failures pass through.
   */
  private processNested(
    stopChar: number,
    rawEscapes: boolean,
    start: number,
    reason: ShellExpansionReason,
    detail: string,
  ): string {
    try {
      return this.processStopOn(stopChar, rawEscapes).result;
    } catch (err) {
      if (err instanceof LexFailure && this.peek() === EOF) throw new LexFailure(reason, detail, start);
      throw err;
    }
  }

  private withPattern(start: number, name: string, run: () => string): string {
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

  /** Reads a variable name: `[letters digits _]*`, a run of digits, or one special parameter. */
  private processName(): string {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += runeString(this.next());
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return runeString(this.next());
      if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
      name += runeString(this.next());
    }
    return name;
  }

  /** `<` is ordinary, but `<<` keeps the white space after it inside the word (heredoc markers). */
  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== LESS) return '<';
    this.next();
    let result = '<<';
    for (let ch = this.peek(); ch === 0x09 || ch === 0x0d || ch === 0x20; ch = this.peek()) {
      result += runeString(this.next());
    }
    return result;
  }

  private getEnv(name: string): string | undefined {
    const value = this.lookup(name);
    if (value === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return value;
  }
}

function isSimpleModifier(ch: number): boolean {
  return ch === 0x2b || ch === 0x2d || ch === 0x3f || ch === 0x23 || ch === 0x25; // + - ? # %
}

/** POSIX special parameters; never set in a Dockerfile. */
function isSpecialParam(ch: number): boolean {
  switch (ch) {
    case 0x40: // @
    case 0x2a: // *
    case 0x23: // #
    case 0x3f: // ?
    case 0x2d: // -
    case 0x24: // $
    case 0x21: // !
    case 0x30: // 0
      return true;
  }
  return false;
}
