/**
 * One expansion of one word: the state machine behind `ShellLex`.
 *
 * BuildKit's lexer recurses: `${NAME:-word}` reads `word` with a nested call,
 * and so does a `"…"` around a `${…}`. Here the nesting lives on an explicit
 * stack of frames instead, so no input can exhaust the call stack: a word
 * nested 100,000 deep expands as BuildKit expands it (BuildKit itself dies of
 * a stack overflow somewhat beyond a million levels; here the limit is memory).
 *
 * Three kinds of frame:
 * - a {@link WordFrame} reads characters up to its stop character (the whole
 *   input at the bottom, `}` or `/` inside a `${…}`);
 * - a {@link QuoteFrame} reads a `"…"`;
 * - a {@link BraceFrame} is a `${NAME<op>…}` waiting for its nested word(s).
 *
 * A frame either finishes with its text, which goes to the frame below it,
 * or opens a child frame. Only the bottom word frame splits words: BuildKit's
 * nested calls split too, but their word lists are thrown away, and the only
 * trace they leave is that they empty the word being built (its buffer is
 * shared), which is what {@link WordSplitter.reset} reproduces. Each
 * character is therefore split once, and expansion takes time linear in the
 * length of the word and of what it expands to.
 * @module
 */
import { BraceFrame, substitute } from './braces.js';
import { LexFailure } from './failure.js';
import { decodeRunes, EOF, isDigit, isLetter, runeString } from './runes.js';
import { WordSplitter } from './word-split.js';

/** The options of the lexer that matter to one expansion. */
export interface WordRunOptions {
  escapeToken: '\\' | '`';
  rawQuotes: boolean;
  rawEscapes: boolean;
  skipProcessQuotes: boolean;
  skipUnsetEnv: boolean;
}

const DOLLAR = 0x24;
const SINGLE_QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const LESS = 0x3c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COLON = 0x3a;
const SLASH = 0x2f;

/** Reads characters up to `stop` (consumed), or to the end when `stop` is EOF. */
class WordFrame {
  result = '';
  constructor(
    readonly stop: number,
    readonly rawEscapes: boolean,
    /** Only the bottom frame of a `processWords` run splits. */
    readonly splitter: WordSplitter | undefined,
  ) {}
}

/** Reads a `"…"` after its opening quote. */
class QuoteFrame {
  result = '';
  constructor(
    /** Offset of the opening quote, for the "unterminated" error. */
    readonly start: number,
    /** The escape mode of the word frame the quote sits in. */
    readonly rawEscapes: boolean,
  ) {}
}

type Frame = WordFrame | QuoteFrame | BraceFrame;

/** The state of one expansion call. */
export class WordRun {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly runes: Int32Array;
  private readonly offsets: Int32Array;
  private pos = 0;
  private readonly escape: number;
  private splitter: WordSplitter | undefined;

  constructor(
    private readonly options: WordRunOptions,
    source: string,
    private readonly lookup: (name: string) => string | undefined,
  ) {
    const decoded = decodeRunes(source);
    this.runes = decoded.runes;
    this.offsets = decoded.offsets;
    // Go's text/scanner skips a byte-order mark at the start of its input.
    if (this.runes[0] === 0xfeff) this.pos = 1;
    this.escape = options.escapeToken.codePointAt(0)!;
  }

  /**
   * Expands the whole input; with `split`, also the word list of `ProcessWords`.
   * @throws {LexFailure}
   */
  run(split: boolean): { result: string; words: string[] } {
    this.splitter = split ? new WordSplitter() : undefined;
    const stack: Frame[] = [new WordFrame(EOF, this.options.rawEscapes, this.splitter)];
    try {
      for (;;) {
        const frame = stack[stack.length - 1] as WordFrame | QuoteFrame;
        let outcome: Frame | string | undefined =
          frame instanceof WordFrame ? this.stepWord(frame) : this.stepQuote(frame);
        // A finished frame hands its text down; a brace may finish in turn.
        while (typeof outcome === 'string') {
          const done = stack.pop()!;
          const below = stack[stack.length - 1];
          if (below === undefined) return { result: outcome, words: this.splitter?.finish() ?? [] };
          outcome = this.receive(below, done, outcome);
        }
        if (outcome !== undefined) this.enter(stack, outcome);
      }
    } catch (err) {
      throw err instanceof LexFailure ? this.unwind(stack, err) : err;
    }
  }

  /**
   * The failure as the recursive lexer would report it: running out of input
   * inside a `${…}`'s nested word is reported as that `${…}`'s missing
   * terminator, at each level the failure passes on its way out.
   */
  private unwind(stack: readonly Frame[], failure: LexFailure): LexFailure {
    if (this.peek() !== EOF) return failure;
    // The frame on top raised it; braces below it were reading a nested word.
    for (let i = stack.length - 2; i >= 0; i--) {
      const frame = stack[i]!;
      if (frame instanceof BraceFrame) failure = frame.atEnd();
    }
    return failure;
  }

  /** Pushes a child frame; a brace starts reading its first nested word at once. */
  private enter(stack: Frame[], frame: Frame): void {
    stack.push(frame);
    if (frame instanceof BraceFrame) stack.push(this.nestedWord(frame));
  }

  /** The word frame that reads the next nested word of `brace`. */
  private nestedWord(brace: BraceFrame): WordFrame {
    this.splitter?.reset();
    const stop = brace.readingPattern ? SLASH : CLOSE_BRACE;
    // Patterns keep their escapes for the matcher.
    const rawEscapes = brace.kind !== 'modifier' || brace.op === 0x23 || brace.op === 0x25;
    return new WordFrame(stop, rawEscapes, undefined);
  }

  /**
   * Gives `text`, the result of the finished frame `done`, to the frame below.
   * Returns the text of `below` when that finishes it too (a brace), a new
   * frame to enter, or undefined to go on reading `below`.
   */
  private receive(below: Frame, done: Frame, text: string): Frame | string | undefined {
    if (below instanceof WordFrame) {
      below.result += text;
      if (below.splitter) {
        if (done instanceof BraceFrame) below.splitter.addString(text);
        else below.splitter.addRawString(text);
      }
      return undefined;
    }
    if (below instanceof QuoteFrame) {
      below.result += text;
      return undefined;
    }
    // A brace got a nested word; the buffer a nested call shared is left empty.
    this.splitter?.reset();
    if (below.readingPattern) {
      below.pattern = text;
      return this.nestedWord(below);
    }
    return substitute(below, text, this.getEnv(below.name), this.options.skipUnsetEnv);
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

  /** Reads a word frame until it ends (its text) or opens a child frame. */
  private stepWord(frame: WordFrame): Frame | string {
    const { splitter } = frame;
    while (this.pos < this.runes.length) {
      const ch = this.runes[this.pos]!;
      if (ch === frame.stop) {
        this.pos++;
        return frame.result;
      }
      if (ch === DOLLAR) {
        const dollar = this.startDollar();
        if (typeof dollar !== 'string') return dollar;
        frame.result += dollar;
        splitter?.addString(dollar);
        continue;
      }
      let quoted: string | undefined;
      if (ch === LESS) quoted = this.processPossibleHeredoc();
      else if (!this.options.skipProcessQuotes) {
        if (ch === SINGLE_QUOTE) quoted = this.processSingleQuote();
        else if (ch === DOUBLE_QUOTE) {
          const start = this.offsetOf(this.pos);
          this.pos++;
          const quote = new QuoteFrame(start, frame.rawEscapes);
          if (this.options.rawQuotes) quote.result = '"';
          return quote;
        }
      }
      if (quoted !== undefined) {
        frame.result += quoted;
        splitter?.addRawString(quoted);
        continue;
      }
      let rune = this.next();
      if (rune === this.escape) {
        if (frame.rawEscapes) {
          splitter?.addRawChar(rune);
          frame.result += runeString(rune);
        }
        rune = this.next();
        if (rune === EOF) break;
        splitter?.addRawChar(rune);
      } else {
        splitter?.addChar(rune);
      }
      frame.result += runeString(rune);
    }
    if (frame.stop !== EOF) {
      throw new LexFailure(
        'unterminated',
        `unexpected end of statement while looking for matching ${runeString(frame.stop)}`,
        this.offsetOf(this.pos),
      );
    }
    return frame.result;
  }

  /** Reads a `"…"` until its closing quote (its text) or a `${…}` that needs a frame. */
  private stepQuote(frame: QuoteFrame): Frame | string {
    for (;;) {
      const ch = this.peek();
      if (ch === EOF) throw unterminatedQuote('double', frame.start);
      if (ch === DOUBLE_QUOTE) {
        this.pos++;
        if (this.options.rawQuotes) frame.result += '"';
        return frame.result;
      }
      if (ch === DOLLAR) {
        const dollar = this.startDollar();
        if (typeof dollar !== 'string') return dollar;
        frame.result += dollar;
        continue;
      }
      let rune = this.next();
      if (rune === this.escape) {
        if (frame.rawEscapes) frame.result += runeString(rune);
        const following = this.peek();
        // At the end the escape is dropped, and the next turn reports the open quote.
        if (following === EOF) continue;
        if (following === DOUBLE_QUOTE || following === DOLLAR || following === this.escape) rune = this.next();
      }
      frame.result += runeString(rune);
    }
  }

  private processSingleQuote(): string {
    const start = this.offsetOf(this.pos);
    let result = '';
    const open = this.next();
    if (this.options.rawQuotes) result += runeString(open);
    for (;;) {
      const rune = this.next();
      if (rune === EOF) throw unterminatedQuote('single', start);
      if (rune === SINGLE_QUOTE) {
        if (this.options.rawQuotes) result += runeString(rune);
        return result;
      }
      result += runeString(rune);
    }
  }

  /**
   * Reads a `$…` up to where its value is known: `$NAME` and `${NAME}`
   * give their text at once; `${NAME<op>…}` gives a frame that reads the rest.
   */
  private startDollar(): string | BraceFrame {
    const start = this.offsetOf(this.pos);
    this.next();

    if (this.peek() !== OPEN_BRACE) {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && this.options.skipUnsetEnv) return '$' + name;
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
      if (value === undefined && this.options.skipUnsetEnv) return `\${${name}}`;
      return value ?? '';
    }
    if (ch === SLASH) {
      const all = this.peek() === SLASH;
      if (all) this.next();
      return new BraceFrame(start, name, all ? 'replace-all' : 'replace-first', SLASH, '/', false);
    }

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
    return new BraceFrame(start, name, 'modifier', ch, modifier, nullIsUnset);
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

/** A quoted string the word ends inside, with BuildKit's message; `start` is its opening quote. */
function unterminatedQuote(quote: 'single' | 'double', start: number): LexFailure {
  return new LexFailure(`unterminated-${quote}-quote`, `unexpected end of statement while looking for matching ${quote}-quote`, start);
}
