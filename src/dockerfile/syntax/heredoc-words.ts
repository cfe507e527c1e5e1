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
import { isGoDigit, isGoLetter } from '../unicode.js';
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
/** Go's `unicode.IsSpace` as a regular expression (searching beats a loop over long texts). */
const GO_BLANK = /[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/g;
const isDigit = (ch: string): boolean => isGoDigit(ch.codePointAt(0)!);
const isLetterOrDigit = (ch: string): boolean => isGoLetter(ch.codePointAt(0)!) || isGoDigit(ch.codePointAt(0)!);

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
 * The lexer's call stack, kept as data: BuildKit's lexer recurses for every
 * `${…}` and `"…"`, and a line may nest them ten thousand deep.
 */
type Frame =
  /** `processStopOn`: text up to `stop` (EOF at the top level). */
  | { kind: 'stop'; stop: string; savedRawEscapes: boolean; result: string; state: WordState | undefined }
  /** `processDoubleQuote`. */
  | { kind: 'quote'; result: string }
  /** `processDollar` waiting for the text of its modifier word (or pattern, then replacement). */
  | { kind: 'dollar'; name: string; modifier: string; step: 'word' | 'pattern' | 'replacement'; pattern: string };

/** What BuildKit says when a `${…}` part runs into the end of the text. */
const AT_EOF: Record<'word' | 'pattern' | 'replacement', string> = {
  word: "syntax error: missing '}'",
  pattern: "syntax error: missing '/' in ${}",
  replacement: "syntax error: missing '}'",
};

/**
 * BuildKit's `ShellLex.ProcessWords` with escape `\`, `SkipUnsetEnv`, an
 * empty environment, and the given raw-quote/raw-escape settings.
 */
class WordLexer {
  private readonly chars: string[];
  private pos = 0;
  /** One buffer for every nesting level: BuildKit's `shellWord.wordsBuffer`. */
  private buffer = '';
  private readonly stack: Frame[] = [];
  /** The top-level scan's words, once it has finished. */
  private done: string[] | undefined;

  constructor(
    text: string,
    private readonly rawQuotes: boolean,
    private rawEscapes: boolean,
  ) {
    // Go's scanner reads a raw byte (see fromByteString) as U+FFFD.
    this.chars = Array.from(rawBytesToReplacement(text));
  }

  words(): string[] {
    this.pushStop(EOF, this.rawEscapes);
    try {
      while (this.done === undefined) this.step();
    } catch (err) {
      if (!(err instanceof LexError)) throw err;
      // Each enclosing `${…}` rewords an error met at the end of the text; the outermost speaks last.
      const outer = this.stack.find((f) => f.kind === 'dollar');
      throw this.peek() === EOF && outer?.kind === 'dollar' ? new LexError(AT_EOF[outer.step]) : err;
    }
    return this.done;
  }

  private peek(): string {
    return this.pos < this.chars.length ? this.chars[this.pos]! : EOF;
  }

  private next(): string {
    return this.pos < this.chars.length ? this.chars[this.pos++]! : EOF;
  }

  /**
   * Starts a `processStopOn`. Only the top-level scan's words are used: a
   * nested scan (inside `${…}`) collects words that BuildKit throws away, in
   * the shared buffer it empties — so all that remains of them here is that
   * the buffer is emptied (dropping the start of the enclosing word), and
   * nested scans cost time linear in their text.
   */
  private pushStop(stop: string, rawEscapes: boolean): void {
    const state = stop === EOF ? { words: [], inWord: false } : undefined;
    this.stack.push({ kind: 'stop', stop, savedRawEscapes: this.rawEscapes, result: '', state });
    this.rawEscapes = rawEscapes;
    this.buffer = '';
  }

  /** One step of the frame on top. */
  private step(): void {
    const frame = this.stack[this.stack.length - 1]!;
    if (frame.kind === 'stop') this.stepStop(frame);
    else if (frame.kind === 'quote') this.stepQuote(frame);
    else throw new Error('a ${} frame never runs by itself');
  }

  private stepStop(frame: Extract<Frame, { kind: 'stop' }>): void {
    let ch = this.peek();
    if (ch === EOF) return this.endStop(frame, false);
    if (frame.stop !== EOF && ch === frame.stop) {
      this.next();
      return this.endStop(frame, true);
    }
    switch (ch) {
      case '$': {
        const piece = this.startDollar();
        if (piece !== undefined) this.deliver(piece, true);
        return;
      }
      case '<':
        return this.deliver(this.processPossibleHeredoc(), false);
      case "'":
        return this.deliver(this.processSingleQuote(), false);
      case '"':
        this.next();
        this.stack.push({ kind: 'quote', result: this.rawQuotes ? '"' : '' });
        return;
    }
    const { state } = frame;
    ch = this.next();
    if (ch === '\\') {
      if (this.rawEscapes) {
        if (state) this.addRaw(state, ch);
        frame.result += ch;
      }
      ch = this.next();
      if (ch === EOF) return this.endStop(frame, false);
      if (state) this.addRaw(state, ch);
    } else if (state) {
      this.addChar(state, ch);
    }
    frame.result += ch;
  }

  /** The end of a `processStopOn`: at its stop character (`found`), or at the end of the text. */
  private endStop(frame: Extract<Frame, { kind: 'stop' }>, found: boolean): void {
    if (!found && frame.stop !== EOF) {
      throw new LexError(`unexpected end of statement while looking for matching ${frame.stop}`);
    }
    this.stack.pop();
    this.rawEscapes = frame.savedRawEscapes;
    const words = frame.state ? this.finish(frame.state) : [];
    const parent = this.stack[this.stack.length - 1];
    if (parent === undefined) {
      this.done = words;
      return;
    }
    if (parent.kind !== 'dollar') throw new Error('a nested scan always belongs to a ${}');
    if (parent.step === 'pattern') {
      parent.pattern = frame.result;
      parent.step = 'replacement';
      this.pushStop('}', true);
      return;
    }
    this.stack.pop();
    const piece =
      parent.step === 'word'
        ? '${' + parent.name + parent.modifier + frame.result + '}'
        : '${' + parent.name + '/' + parent.pattern + '/' + frame.result + '}';
    this.deliver(piece, true);
  }

  /**
   * Hands the text of a `$…` (`fromDollar`: split at blanks), a quote or a
   * `<<` to the frame that met it.
   */
  private deliver(piece: string, fromDollar: boolean): void {
    const frame = this.stack[this.stack.length - 1]!;
    if (frame.kind === 'quote') {
      frame.result += piece;
      return;
    }
    if (frame.kind !== 'stop') throw new Error('only scans and quotes take text');
    frame.result += piece;
    if (!frame.state) return;
    if (fromDollar) this.addString(frame.state, piece);
    else this.addRaw(frame.state, piece);
  }

  private addRaw(state: WordState, text: string): void {
    this.buffer += text;
    state.inWord = true;
  }

  /**
   * `addChar` for every character of `piece`, a run of non-blanks at a time:
   * a `${…}` nested n deep hands each level the text of all the levels
   * inside it, so this runs over n² characters.
   */
  private addString(state: WordState, piece: string): void {
    let from = 0;
    GO_BLANK.lastIndex = 0;
    for (let match = GO_BLANK.exec(piece); match !== null; match = GO_BLANK.exec(piece)) {
      const i = match.index;
      if (i > from) {
        this.buffer += piece.slice(from, i);
        state.inWord = true;
      }
      if (state.inWord && this.buffer.length !== 0) {
        state.words.push(this.buffer);
        this.buffer = '';
        state.inWord = false;
      }
      from = i + 1;
    }
    if (from < piece.length) {
      this.buffer += piece.slice(from);
      state.inWord = true;
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

  private stepQuote(frame: Extract<Frame, { kind: 'quote' }>): void {
    const peeked = this.peek();
    if (peeked === EOF) throw new LexError('unexpected end of statement while looking for matching double-quote');
    if (peeked === '"') {
      const ch = this.next();
      if (this.rawQuotes) frame.result += ch;
      this.stack.pop();
      this.deliver(frame.result, false);
      return;
    }
    if (peeked === '$') {
      const piece = this.startDollar();
      if (piece !== undefined) frame.result += piece;
      return;
    }
    let ch = this.next();
    if (ch === '\\') {
      if (this.rawEscapes) frame.result += ch;
      const after = this.peek();
      if (after === EOF) return;
      if (after === '"' || after === '$' || after === '\\') ch = this.next();
    }
    frame.result += ch;
  }

  /**
   * `$name`, `${name}`, `${name:-word}`…: all variables are unset, so each
   * stays as written. Returns the text when it is complete, or undefined
   * after pushing the scan of its word (finished in {@link endStop}).
   */
  private startDollar(): string | undefined {
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
      this.stack.push({ kind: 'dollar', name, modifier, step: 'word', pattern: '' });
      this.pushStop('}', rawEscapes);
      return undefined;
    }
    if (ch === '/') {
      if (this.peek() === '/') this.next();
      this.stack.push({ kind: 'dollar', name, modifier, step: 'pattern', pattern: '' });
      this.pushStop('/', true);
      return undefined;
    }
    throw new LexError(`unsupported modifier (${modifier}) in substitution`);
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

/** Shell words of `text`, or undefined when the lexer fails. */
function lexWords(text: string, rawQuotes: boolean, rawEscapes: boolean): string[] | undefined {
  try {
    return new WordLexer(text, rawQuotes, rawEscapes).words();
  } catch (err) {
    if (err instanceof LexError) return undefined;
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
