/**
 * Compiles a Go `regexp` (RE2 syntax, Perl flags, no multi-line) into an
 * equivalent JavaScript `RegExp`.
 *
 * Docker's pattern matcher turns each `.dockerignore` pattern into a Go
 * regular expression, copying `[…]` classes, `\` escapes and `^` through
 * verbatim. Those pieces must mean in JavaScript what they mean in Go, and the
 * two dialects disagree in places: Go's `.` never matches `\n`, `\s` is ASCII
 * only, `]` first in a class is a literal, POSIX `[:alpha:]` classes exist,
 * `\Q…\E` quotes, `\pL` needs no braces, a reversed range is an error. This
 * module parses the Go syntax and emits JavaScript that matches the same
 * strings, or throws {@link GoRegexpSyntaxError} where Go's `regexp.Compile`
 * fails. It covers the whole syntax a pattern can produce; repetition braces
 * `{n,m}` and `(?flags)` groups cannot appear (the matcher escapes `{`, `}`
 * and never emits `(?`), so they are not translated.
 * @module
 */

/** Go's `regexp.Compile` would reject the expression. */
export class GoRegexpSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GoRegexpSyntaxError';
  }
}

type Range = [number, number];

const MAX_RUNE = 0x10ffff;

const POSIX_CLASSES: Record<string, Range[]> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a], [0x5f, 0x5f]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

const PERL_CLASSES: Record<string, Range[]> = {
  d: [[0x30, 0x39]],
  s: [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]],
  w: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
};

/**
 * Compiles Go regexp source to a JavaScript RegExp (flag `u`) that matches
 * exactly the strings Go's would.
 *
 * @throws {@link GoRegexpSyntaxError} where `regexp.Compile` returns an error.
 */
export function compileGoRegexp(source: string): RegExp {
  const parser = new Parser(Array.from(source, (ch) => ch.codePointAt(0)!));
  const js = parser.parse();
  try {
    return new RegExp(js, 'u');
  } catch (err) {
    throw new GoRegexpSyntaxError(`cannot translate ${JSON.stringify(source)}: ${(err as Error).message}`);
  }
}

class Parser {
  #i = 0;
  constructor(private readonly cs: number[]) {}

  parse(): string {
    const { cs } = this;
    let out = '';
    while (this.#i < cs.length) {
      const c = cs[this.#i]!;
      switch (c) {
        case 0x5c: // backslash
          out += this.#escapeOutsideClass();
          break;
        case 0x5b: // [
          out += this.#charClass();
          break;
        case 0x2e: // . — Go's dot (no s flag) is anything but a newline
          out += '[^\\n]';
          this.#i++;
          break;
        case 0x5e: // ^ and $ without the m flag: start and end of text, in both dialects
        case 0x24:
        case 0x2a: // * + ? ( ) | keep their meaning
        case 0x2b:
        case 0x3f:
        case 0x28:
        case 0x29:
        case 0x7c:
          out += String.fromCodePoint(c);
          this.#i++;
          break;
        default:
          out += literal(c);
          this.#i++;
      }
    }
    return out;
  }

  #escapeOutsideClass(): string {
    const next = this.cs[this.#i + 1];
    if (next === undefined) throw new GoRegexpSyntaxError('trailing backslash at end of expression');
    switch (String.fromCodePoint(next)) {
      case 'A':
        this.#i += 2;
        return '^';
      case 'z':
        this.#i += 2;
        return '$';
      case 'b':
        this.#i += 2;
        return '\\b';
      case 'B':
        this.#i += 2;
        return '\\B';
      case 'C':
        throw new GoRegexpSyntaxError('invalid escape sequence: `\\C`');
      case 'Q':
        return this.#quoted();
      case 'p':
      case 'P':
        return this.#unicodeClass();
      case 'd':
      case 'D':
      case 's':
      case 'S':
      case 'w':
      case 'W':
        return classText(false, this.#perlClass(), []);
      default:
        return literal(this.#escapedRune());
    }
  }

  /** `\Q…\E`: everything up to `\E` (or the end) is literal. */
  #quoted(): string {
    const { cs } = this;
    this.#i += 2;
    let out = '';
    while (this.#i < cs.length) {
      if (cs[this.#i] === 0x5c && cs[this.#i + 1] === 0x45) {
        this.#i += 2;
        break;
      }
      out += literal(cs[this.#i]!);
      this.#i++;
    }
    return out;
  }

  /** Go's parseEscape: a single escaped character (octal, hex, C escapes, punctuation). */
  #escapedRune(): number {
    const { cs } = this;
    const c = cs[this.#i + 1];
    if (c === undefined) throw new GoRegexpSyntaxError('trailing backslash at end of expression');
    this.#i += 2;
    const isOctal = (x: number | undefined) => x !== undefined && x >= 0x30 && x <= 0x37;
    if (c < 0x80 && !isAlnum(c)) return c;
    if ((c >= 0x31 && c <= 0x37 && isOctal(cs[this.#i])) || c === 0x30) {
      let r = c - 0x30;
      for (let k = 1; k < 3 && isOctal(cs[this.#i]); k++) r = r * 8 + cs[this.#i++]! - 0x30;
      return r;
    }
    if (c === 0x78) return this.#hexEscape();
    const cEscapes: Record<number, number> = { 0x61: 7, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9, 0x76: 11 };
    const mapped = cEscapes[c];
    if (mapped !== undefined) return mapped;
    throw new GoRegexpSyntaxError(`invalid escape sequence: \`\\${String.fromCodePoint(c)}\``);
  }

  #hexEscape(): number {
    const { cs } = this;
    const invalid = () => new GoRegexpSyntaxError('invalid escape sequence: `\\x`');
    if (cs[this.#i] === 0x7b) {
      this.#i++;
      let r = 0;
      let digits = 0;
      for (;;) {
        const c = cs[this.#i++];
        if (c === undefined) throw invalid();
        if (c === 0x7d) break;
        const v = hexValue(c);
        if (v < 0) throw invalid();
        r = r * 16 + v;
        if (r > MAX_RUNE) throw invalid();
        digits++;
      }
      if (digits === 0) throw invalid();
      return r;
    }
    const x = hexValue(cs[this.#i] ?? -1);
    const y = hexValue(cs[this.#i + 1] ?? -1);
    if (x < 0 || y < 0) throw invalid();
    this.#i += 2;
    return x * 16 + y;
  }

  /** `\d \D \s \S \w \W` as ranges (Go's are ASCII-only, unlike JavaScript's `\s`). */
  #perlClass(): Range[] {
    const name = String.fromCodePoint(this.cs[this.#i + 1]!);
    this.#i += 2;
    const ranges = PERL_CLASSES[name.toLowerCase()]!;
    return name === name.toLowerCase() ? ranges : complement(ranges);
  }

  /** `\pL`, `\p{Greek}`, `\P{^Lu}` → a JavaScript property escape. */
  #unicodeClass(): string {
    const { cs } = this;
    let negated = cs[this.#i + 1] === 0x50;
    this.#i += 2;
    let name: string;
    if (cs[this.#i] === 0x7b) {
      const close = cs.indexOf(0x7d, this.#i);
      if (close < 0) throw new GoRegexpSyntaxError('invalid character class range');
      name = String.fromCodePoint(...cs.slice(this.#i + 1, close));
      this.#i = close + 1;
    } else {
      const c = cs[this.#i];
      if (c === undefined) throw new GoRegexpSyntaxError('invalid character class range');
      name = String.fromCodePoint(c);
      this.#i++;
    }
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    const property = name === 'Any' || name.length <= 2 ? name : `Script=${name}`;
    const text = `\\${negated ? 'P' : 'p'}{${property}}`;
    try {
      new RegExp(text, 'u');
    } catch {
      throw new GoRegexpSyntaxError(`invalid character class range: \`\\p{${name}}\``);
    }
    return text;
  }

  /** A `[…]` class, parsed with Go's rules and re-emitted as explicit ranges. */
  #charClass(): string {
    const { cs } = this;
    this.#i++;
    let negated = false;
    if (cs[this.#i] === 0x5e) {
      negated = true;
      this.#i++;
    }
    const ranges: Range[] = [];
    const properties: string[] = [];
    let first = true;
    while (this.#i >= cs.length || cs[this.#i] !== 0x5d || first) {
      if (this.#i >= cs.length) throw new GoRegexpSyntaxError('missing closing ]');
      first = false;
      const c = cs[this.#i]!;
      if (c === 0x5b && cs[this.#i + 1] === 0x3a) {
        const named = this.#posixClass();
        if (named) {
          ranges.push(...named);
          continue;
        }
      }
      const next = cs[this.#i + 1];
      if (c === 0x5c && (next === 0x70 || next === 0x50)) {
        properties.push(this.#unicodeClass());
        continue;
      }
      if (c === 0x5c && next !== undefined && 'dDsSwW'.includes(String.fromCodePoint(next))) {
        ranges.push(...this.#perlClass());
        continue;
      }
      const lo = this.#classRune();
      let hi = lo;
      if (cs[this.#i] === 0x2d && this.#i + 1 < cs.length && cs[this.#i + 1] !== 0x5d) {
        this.#i++;
        hi = this.#classRune();
        if (hi < lo) throw new GoRegexpSyntaxError('invalid character class range');
      }
      ranges.push([lo, hi]);
    }
    this.#i++;
    return classText(negated, ranges, properties);
  }

  #classRune(): number {
    const c = this.cs[this.#i];
    if (c === undefined) throw new GoRegexpSyntaxError('missing closing ]');
    if (c === 0x5c) return this.#escapedRune();
    this.#i++;
    return c;
  }

  /** `[:alpha:]` or `[:^alpha:]`; undefined when there is no `:]` (then `[` is a literal). */
  #posixClass(): Range[] | undefined {
    const { cs } = this;
    let close = -1;
    for (let k = this.#i + 2; k + 1 < cs.length; k++) {
      if (cs[k] === 0x3a && cs[k + 1] === 0x5d) {
        close = k;
        break;
      }
    }
    if (close < 0) return undefined;
    let name = String.fromCodePoint(...cs.slice(this.#i + 2, close));
    const negated = name.startsWith('^');
    if (negated) name = name.slice(1);
    const ranges = Object.hasOwn(POSIX_CLASSES, name) ? POSIX_CLASSES[name] : undefined;
    if (!ranges) throw new GoRegexpSyntaxError(`invalid character class range: \`[:${name}:]\``);
    this.#i = close + 2;
    return negated ? complement(ranges) : ranges;
  }
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** One code point as a JavaScript literal that means itself in any position. */
function literal(c: number): string {
  return isAlnum(c) ? String.fromCodePoint(c) : `\\u{${c.toString(16)}}`;
}

function classText(negated: boolean, ranges: Range[], properties: string[]): string {
  const parts = ranges.map(([lo, hi]) => (lo === hi ? literal(lo) : `${literal(lo)}-${literal(hi)}`));
  return `[${negated ? '^' : ''}${parts.join('')}${properties.join('')}]`;
}

function complement(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1]);
    next = Math.max(next, hi + 1);
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
  return out;
}
