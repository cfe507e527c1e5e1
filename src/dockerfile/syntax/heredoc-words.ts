/**
 * Finding heredocs (`<<EOF`, `<<-"EOF"`, `3<<EOF`) on an instruction line.
 *
 * BuildKit splits the line into shell words with its shell lexer (quotes and
 * escapes kept raw, variables left unexpanded) and then matches each word
 * against `^(\d*)<<(-?)\s*([^<]*)$`. Which words the lexer produces decides
 * which heredocs exist, so this module reproduces that lexer's word
 * splitting for exactly this use, including its quirks: a `${…}` with a
 * modifier drops what came before it in the same word, and a lexing error
 * anywhere on the line means "no heredocs". Expansion proper is the shell
 * module's job; nothing here looks up a variable (all are unset).
 * @module
 */
import { isGoSpace, rawBytesToReplacement } from './chars.js';
import { goIsDigit, goIsLetter } from './go-unicode.js';
import { goQuote } from './go-quote.js';
import { LineParseError } from './line-parsers.js';

/** A heredoc named on an instruction line, before its body is read. */
export interface HeredocStart {
  name: string;
  expand: boolean;
  chomp: boolean;
  /** The file descriptor before `<<` (`3<<EOF`), 0 when absent. */
  fileDescriptor: number;
}

class LexError extends Error {}

const EOF = '';
const isDigit = (ch: string): boolean => goIsDigit(ch.codePointAt(0)!);
const isLetterOrDigit = (ch: string): boolean => goIsLetter(ch.codePointAt(0)!) || goIsDigit(ch.codePointAt(0)!);

/** Go's `unicode.IsSpace` on a code point held as a string. */
function isSpaceChar(ch: string): boolean {
  return ch.length === 1 && isGoSpace(ch.charCodeAt(0));
}

/** The words being collected; `buffer` is shared by nested scans, as in BuildKit. */
interface WordState {
  words: string[];
  inWord: boolean;
}

/**
 * BuildKit's `ShellLex.ProcessWords` with escape `\`, `SkipUnsetEnv`, an
 * empty environment, and the given raw-quote/raw-escape settings.
 */
class WordLexer {
  private readonly chars: string[];
  private pos = 0;
  /** One buffer for every nesting level: BuildKit's `shellWord.wordsBuffer`. */
  private buffer = '';

  constructor(
    text: string,
    private readonly rawQuotes: boolean,
    private rawEscapes: boolean,
  ) {
    // Go's scanner reads a raw byte (see fromByteString) as U+FFFD.
    this.chars = Array.from(rawBytesToReplacement(text));
  }

  words(): string[] {
    return this.processStopOn(EOF, this.rawEscapes).words;
  }

  private peek(): string {
    return this.pos < this.chars.length ? this.chars[this.pos]! : EOF;
  }

  private next(): string {
    return this.pos < this.chars.length ? this.chars[this.pos++]! : EOF;
  }

  private processStopOn(stop: string, rawEscapes: boolean): { result: string; words: string[] } {
    let result = '';
    this.buffer = '';
    const state: WordState = { words: [], inWord: false };
    const savedRawEscapes = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        let ch = this.peek();
        if (stop !== EOF && ch === stop) {
          this.next();
          return { result, words: this.finish(state) };
        }
        if (ch === '$' || ch === '<' || ch === "'" || ch === '"') {
          const piece =
            ch === '$'
              ? this.processDollar()
              : ch === '<'
                ? this.processPossibleHeredoc()
                : ch === "'"
                  ? this.processSingleQuote()
                  : this.processDoubleQuote();
          result += piece;
          if (ch === '$') {
            for (const c of piece) this.addChar(state, c);
          } else {
            this.buffer += piece;
            state.inWord = true;
          }
          continue;
        }
        ch = this.next();
        if (ch === '\\') {
          if (this.rawEscapes) {
            this.buffer += ch;
            state.inWord = true;
            result += ch;
          }
          ch = this.next();
          if (ch === EOF) break;
          this.buffer += ch;
          state.inWord = true;
        } else {
          this.addChar(state, ch);
        }
        result += ch;
      }
      if (stop !== EOF) throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
      return { result, words: this.finish(state) };
    } finally {
      this.rawEscapes = savedRawEscapes;
    }
  }

  private addChar(state: WordState, ch: string): void {
    if (isSpaceChar(ch)) {
      if (state.inWord && this.buffer.length !== 0) {
        state.words.push(this.buffer);
        this.buffer = '';
        state.inWord = false;
      }
    } else {
      this.buffer += ch;
      state.inWord = true;
    }
  }

  private finish(state: WordState): string[] {
    if (this.buffer.length > 0) {
      state.words.push(this.buffer);
      this.buffer = '';
      state.inWord = false;
    }
    return state.words;
  }

  private processSingleQuote(): string {
    let result = '';
    const open = this.next();
    if (this.rawQuotes) result += open;
    for (;;) {
      const ch = this.next();
      if (ch === EOF) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    let result = '';
    const open = this.next();
    if (this.rawQuotes) result += open;
    for (;;) {
      const peeked = this.peek();
      if (peeked === EOF) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (peeked === '"') {
        const ch = this.next();
        if (this.rawQuotes) result += ch;
        return result;
      }
      if (peeked === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next();
      if (ch === '\\') {
        if (this.rawEscapes) result += ch;
        const after = this.peek();
        if (after === EOF) continue;
        if (after === '"' || after === '$' || after === '\\') ch = this.next();
      }
      result += ch;
    }
  }

  /** `$name`, `${name}`, `${name:-word}`…: all variables are unset, so each stays as written. */
  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      return name === '' ? '$' : '$' + name;
    }
    this.next();
    const first = this.peek();
    if (first === EOF) throw new LexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let modifier = ch === EOF ? '\ufffd' : ch;
    let nullIsUnset = false;
    if (ch === '}') return '${' + name + '}';
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      modifier += ch === EOF ? '\ufffd' : ch;
    }
    if (nullIsUnset || ch === '+' || ch === '-' || ch === '?' || ch === '#' || ch === '%') {
      const rawEscapes = ch === '#' || ch === '%';
      if (nullIsUnset && rawEscapes) throw new LexError(`unsupported modifier (${modifier}) in substitution`);
      const word = this.nested('}', rawEscapes, "syntax error: missing '}'");
      return '${' + name + modifier + word + '}';
    }
    if (ch === '/') {
      if (this.peek() === '/') this.next();
      const pattern = this.nested('/', true, "syntax error: missing '/' in ${}");
      const replacement = this.nested('}', true, "syntax error: missing '}'");
      return '${' + name + '/' + pattern + '/' + replacement + '}';
    }
    throw new LexError(`unsupported modifier (${modifier}) in substitution`);
  }

  private nested(stop: string, rawEscapes: boolean, atEofMessage: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (err) {
      if (err instanceof LexError && this.peek() === EOF) throw new LexError(atEofMessage);
      throw err;
    }
  }

  private processName(): string {
    let name = '';
    while (this.peek() !== EOF) {
      const ch = this.peek();
      if (name === '' && isDigit(ch)) {
        while (this.peek() !== EOF && isDigit(this.peek())) name += this.next();
        return name;
      }
      if (name === '' && '@*#?-$!0'.includes(ch)) return this.next();
      if (ch !== '_' && !isLetterOrDigit(ch)) break;
      name += this.next();
    }
    return name;
  }

  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let spaces = '';
    for (let ch = this.peek(); ch === ' ' || ch === '\t' || ch === '\r'; ch = this.peek()) spaces += this.next();
    return '<<' + spaces;
  }
}

/**
 * Shell words of `text`, or undefined when the lexer fails. `${…}` nests by
 * recursion; nesting deep enough to exhaust the stack counts as a failure
 * (BuildKit's goroutine stacks grow further, so it may still find heredocs
 * in such a line: thousands of levels deep).
 */
function lexWords(text: string, rawQuotes: boolean, rawEscapes: boolean): string[] | undefined {
  try {
    return new WordLexer(text, rawQuotes, rawEscapes).words();
  } catch (err) {
    if (err instanceof LexError || err instanceof RangeError) return undefined;
    throw err;
  }
}

const HEREDOC_WORD = /^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

function countQuotes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x27) n++;
  }
  return n;
}

/**
 * The heredoc a single shell word opens (`<<EOF`, `<<-'EOF'`), or undefined.
 * Throws a {@link LineParseError} (offset 0) when the delimiter cannot be lexed.
 *
 * @example
 * ```ts
 * parseHeredocWord('<<-"EOF"'); // { name: 'EOF', expand: false, chomp: true, fileDescriptor: 0 }
 * ```
 */
export function parseHeredocWord(word: string): HeredocStart | undefined {
  const match = HEREDOC_WORD.exec(word);
  if (!match) return undefined;
  const rest = match[3]!;
  if (rest === '') return undefined;
  let words: string[];
  let rawWords: string[];
  try {
    words = new WordLexer(rest, false, false).words();
    if (words.length !== 1) return undefined;
    rawWords = new WordLexer(rest, true, false).words();
  } catch (err) {
    if (err instanceof LexError) throw new LineParseError(`failed to process ${goQuote(rest)}: ${err.message}`, 0);
    if (err instanceof RangeError) return undefined;
    throw err;
  }
  if (rawWords.length !== words.length) {
    throw new LineParseError(`internal lexing of heredoc produced inconsistent results: ${rest}`, 0);
  }
  const name = words[0]!;
  const fd = match[1] === '' ? 0 : Number.parseInt(match[1]!, 10);
  return {
    name,
    expand: countQuotes(name) === countQuotes(rawWords[0]!),
    chomp: match[2] === '-',
    fileDescriptor: Number.isSafeInteger(fd) ? fd : 0,
  };
}

/** Every heredoc opened on `line`, in order. */
export function heredocsOnLine(line: string): HeredocStart[] {
  const words = lexWords(line, true, true) ?? [];
  const out: HeredocStart[] = [];
  for (const word of words) {
    const heredoc = parseHeredocWord(word);
    if (heredoc) out.push(heredoc);
  }
  return out;
}
