/**
 * Shell patterns for `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}`, matched the
 * way BuildKit matches them.
 *
 * BuildKit turns a pattern into a Go regular expression (`*` → `.*` or
 * `.*?`, `?` → `.`, everything else literal, no bracket expressions) and lets
 * RE2 pick the leftmost-first match. Two consequences we keep: `*` and `?` do
 * not match a newline (RE2's `.`), and `%` works on the reversed value with a
 * reversed pattern. We do not build a JavaScript RegExp — a backtracking
 * engine can take exponential time on `*a*a*a*b` — but find the same match
 * with a table of "can the rest of the pattern match from here", which is
 * O(pattern × value) like RE2.
 * @module
 */
import { decodeRunes, EOF, isDigit, isLetter, runesToString, runeString, type Runes } from './runes.js';

const ANY = -1;
const STAR = -2;
const NEWLINE = 0x0a;

/** Patterns whose table would exceed this many cells fail instead of eating memory. */
const MAX_TABLE_CELLS = 1 << 25;

/** A pattern that cannot be used; `message` is BuildKit's text after `invalid pattern (…) in substitution: `. */
export class PatternError {
  constructor(
    /** The pattern as it was compiled (reversed for `%`). */
    readonly pattern: string,
    readonly message: string,
    readonly tooComplex = false,
  ) {}
}

/**
 * Compiles a pattern into literal runes, ANY and STAR. A backslash escapes
 * `*`, `?` and `\`; before `}` or `/` it is dropped (it only protected the
 * character from the `${…}` syntax); before anything else it is an error.
 */
function compile(pattern: string): number[] {
  let { runes } = decodeRunes(pattern);
  // Go's text/scanner skips a byte-order mark at the start of its input.
  if (runes[0] === 0xfeff) runes = runes.slice(1);
  const tokens: number[] = [];
  for (let i = 0; i < runes.length; i++) {
    const rune = runes[i]!;
    if (rune === 0x2a) {
      // Two stars in a row match the same spans as one.
      if (tokens[tokens.length - 1] !== STAR) tokens.push(STAR);
    } else if (rune === 0x3f) {
      tokens.push(ANY);
    } else if (rune === 0x5c) {
      const next = i + 1 < runes.length ? runes[i + 1]! : EOF;
      if (next === 0x7d || next === 0x2f) continue;
      if (next !== 0x2a && next !== 0x3f && next !== 0x5c) {
        throw new PatternError(pattern, `invalid escape '\\${runeString(next)}'`);
      }
      tokens.push(next);
      i++;
    } else {
      tokens.push(rune);
    }
  }
  return tokens;
}

/** A compiled pattern against one value, with the feasibility table filled in. */
class Matcher {
  private readonly width: number;
  /** `table[i * width + j]` is 1 when tokens[i..] can match starting at value[j]. */
  private readonly table: Uint8Array;
  /** `lineEnd[j]`: the first index ≥ j holding a newline, or the value's length. */
  private readonly lineEnd: Int32Array;

  constructor(
    private readonly tokens: readonly number[],
    private readonly value: Runes,
    private readonly greedy: boolean,
    pattern: string,
  ) {
    const n = value.length;
    const m = tokens.length;
    this.width = n + 1;
    if ((m + 1) * this.width > MAX_TABLE_CELLS) {
      throw new PatternError(pattern, 'pattern too complex for a value of this size', true);
    }
    this.lineEnd = new Int32Array(n + 1);
    this.lineEnd[n] = n;
    for (let j = n - 1; j >= 0; j--) this.lineEnd[j] = value[j] === NEWLINE ? j : this.lineEnd[j + 1]!;

    const table = new Uint8Array((m + 1) * this.width);
    table.fill(1, m * this.width);
    for (let i = m - 1; i >= 0; i--) {
      const token = tokens[i]!;
      const row = i * this.width;
      const below = row + this.width;
      if (token === STAR) {
        table[row + n] = table[below + n]!;
        for (let j = n - 1; j >= 0; j--) {
          table[row + j] = table[below + j] || (value[j] !== NEWLINE && table[row + j + 1]) ? 1 : 0;
        }
      } else {
        for (let j = 0; j < n; j++) {
          const fits = token === ANY ? value[j] !== NEWLINE : value[j] === token;
          table[row + j] = fits && table[below + j + 1] ? 1 : 0;
        }
      }
    }
    this.table = table;
  }

  /** True when the whole pattern can match starting at `start`. */
  matchesAt(start: number): boolean {
    return this.table[start] === 1;
  }

  /**
   * The end of the match starting at `start` that a backtracking engine
   * finds first: each star takes the longest (greedy) or shortest span that
   * still lets the rest match. Call only when {@link matchesAt} is true.
   */
  endOfMatch(start: number): number {
    let j = start;
    for (let i = 0; i < this.tokens.length; i++) {
      if (this.tokens[i] !== STAR) {
        j++;
        continue;
      }
      const next = (i + 1) * this.width;
      const limit = this.lineEnd[j]!;
      if (this.greedy) {
        let k = limit;
        while (k > j && this.table[next + k] !== 1) k--;
        j = k;
      } else {
        let k = j;
        while (k < limit && this.table[next + k] !== 1) k++;
        j = k;
      }
    }
    return j;
  }

  /** The leftmost match at or after `from`, as [start, end], or undefined. */
  find(from: number): [number, number] | undefined {
    for (let s = from; s <= this.value.length; s++) {
      if (this.matchesAt(s)) return [s, this.endOfMatch(s)];
    }
    return undefined;
  }
}

/** `${VAR#pattern}` / `${VAR##pattern}`: drop the shortest / longest matching prefix. */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const { runes } = decodeRunes(value);
  const matcher = new Matcher(compile(pattern), runes, greedy, pattern);
  if (!matcher.matchesAt(0)) return value;
  return runesToString(runes, matcher.endOfMatch(0));
}

/**
 * `${VAR%pattern}` / `${VAR%%pattern}`: drop the shortest / longest matching
 * suffix. Like BuildKit, the search runs on the reversed value with the
 * reversed pattern, so the error text for a bad pattern shows it reversed.
 */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const reversedPattern = reversePattern(pattern);
  const reversed = decodeRunes(value).runes.reverse();
  const matcher = new Matcher(compile(reversedPattern), reversed, greedy, reversedPattern);
  if (!matcher.matchesAt(0)) return value;
  const kept = reversed.slice(matcher.endOfMatch(0)).reverse();
  return runesToString(kept);
}

/**
 * `${VAR/pattern/replacement}` (first match) and `${VAR//pattern/replacement}`
 * (every match). Stars are greedy. For "every match" BuildKit uses Go's
 * `ReplaceAllString`, so `$0` / `${0}` in the replacement insert the matched
 * text, `$$` a dollar, and any other `$name` nothing; "first match" inserts
 * the replacement literally.
 */
export function replacePattern(pattern: string, value: string, replacement: string, all: boolean): string {
  const { runes } = decodeRunes(value);
  const matcher = new Matcher(compile(pattern), runes, true, pattern);
  if (!all) {
    const match = matcher.find(0);
    if (!match) return value;
    return runesToString(runes, 0, match[0]) + replacement + runesToString(runes, match[1]);
  }
  // Go's regexp.replaceAll: skip an empty match right after a previous match,
  // and always advance at least one character.
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= runes.length) {
    const match = matcher.find(searchPos);
    if (!match) break;
    const [start, end] = match;
    out += runesToString(runes, lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) {
      out += expandTemplate(replacement, runesToString(runes, start, end));
    }
    lastMatchEnd = end;
    const width = searchPos < runes.length ? 1 : 0;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + runesToString(runes, lastMatchEnd);
}

/** Reverses a pattern but keeps each `\x` pair in order (`a\*c` → `c\*a`). */
export function reversePattern(pattern: string): string {
  const { runes } = decodeRunes(pattern);
  const out = new Array<number>(runes.length);
  const last = runes.length - 1;
  for (let i = 0; i <= last; ) {
    const rune = runes[i]!;
    const at = last - i;
    if (rune === 0x5c && i !== last) {
      out[at - 1] = rune;
      out[at] = runes[i + 1]!;
      i += 2;
    } else {
      out[at] = rune;
      i++;
    }
  }
  return runesToString(out);
}

/**
 * Go's `Regexp.Expand` for a pattern whose only group is the whole match:
 * `$0`/`${0}` → the match, `$$` → `$`, any other well-formed `$name`/`${name}`
 * → nothing, a malformed `$` stays as it is.
 */
function expandTemplate(template: string, match: string): string {
  let out = '';
  let rest = template;
  for (;;) {
    const dollar = rest.indexOf('$');
    if (dollar < 0) break;
    out += rest.slice(0, dollar);
    rest = rest.slice(dollar + 1);
    if (rest.startsWith('$')) {
      out += '$';
      rest = rest.slice(1);
      continue;
    }
    const ref = readTemplateName(rest);
    if (!ref) {
      out += '$';
      continue;
    }
    rest = ref.rest;
    if (ref.name === '0') out += match;
  }
  return out + rest;
}

function readTemplateName(text: string): { name: string; rest: string } | undefined {
  let body = text;
  const brace = body.startsWith('{');
  if (brace) body = body.slice(1);
  let end = 0;
  for (const ch of body) {
    const rune = ch.codePointAt(0)!;
    if (!isLetter(rune) && !isDigit(rune) && rune !== 0x5f) break;
    end += ch.length;
  }
  if (end === 0) return undefined;
  const name = body.slice(0, end);
  if (brace) {
    if (body[end] !== '}') return undefined;
    end++;
  }
  return { name, rest: body.slice(end) };
}
