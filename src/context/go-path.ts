/**
 * The few pieces of Go's standard library whose exact behaviour decides what
 * a Docker build sees: `path/filepath.Clean`, `filepath.Match` (the syntax of
 * COPY/ADD wildcards, and the validator of `.dockerignore` patterns) and
 * `strings.TrimSpace`. Written for a POSIX host (`/` separator, `\` escapes).
 *
 * `filepath.Match` works on UTF-8 bytes in Go: `*` skips byte by byte and `?`
 * or a class decodes one rune from wherever it lands, so a star can stop in the
 * middle of a multi-byte character. This port works on the same bytes, so it
 * agrees with Go even there.
 * @module
 */

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const STAR = 0x2a;
const QUESTION = 0x3f;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const CARET = 0x5e;
const DASH = 0x2d;
const RUNE_ERROR = 0xfffd;

const encoder = new TextEncoder();

/**
 * Go's `filepath.Clean` on POSIX: collapse `//`, drop `.`, resolve `..`
 * lexically (a rooted path cannot climb above `/`; a relative one keeps
 * leading `..`), no trailing slash, `''` → `'.'`.
 */
export function goClean(path: string): string {
  if (path === '') return '.';
  const rooted = path.charCodeAt(0) === SLASH;
  const out: string[] = [];
  let leadingDotDots = 0;
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > leadingDotDots) out.pop();
      else if (!rooted) {
        out.push('..');
        leadingDotDots++;
      }
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return '/' + joined;
  return joined === '' ? '.' : joined;
}

// unicode.IsSpace, which Go's strings.TrimSpace uses. Unlike String.prototype.trim
// it trims U+0085 and keeps U+FEFF.
const GO_SPACE = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const LEADING_SPACE = new RegExp(`^${GO_SPACE}+`);
const TRAILING_SPACE = new RegExp(`${GO_SPACE}+$`);

/** Go's `strings.TrimSpace`. */
export function goTrimSpace(s: string): string {
  return s.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');
}

/** Thrown by {@link goMatch} where Go returns `filepath.ErrBadPattern`. */
export class BadPatternError extends Error {
  constructor(readonly pattern: string) {
    super('syntax error in pattern');
    this.name = 'BadPatternError';
  }
}

/**
 * Go's `filepath.Match(pattern, name)` on a POSIX host: `*` is any run of
 * non-`/` bytes, `?` one non-`/` character, `[…]`/`[^…]` a character class
 * with ranges, `\` escapes. The whole pattern is checked for syntax even when
 * an early part already fails to match (Go ≥ 1.16).
 *
 * @throws {@link BadPatternError} for a malformed pattern.
 */
export function goMatch(pattern: string, name: string): boolean {
  const result = matchBytes(encoder.encode(pattern), encoder.encode(name));
  if (result === BAD) throw new BadPatternError(pattern);
  return result;
}

const BAD = -2;
const FAIL = -1;
type MatchResult = boolean | typeof BAD;

function matchBytes(p: Uint8Array, name: Uint8Array): MatchResult {
  let pi = 0;
  let ni = 0;
  outer: while (pi < p.length) {
    const chunk = scanChunk(p, pi);
    pi = chunk.end;
    if (chunk.star && chunk.start === chunk.end) {
      // A trailing star matches the rest of the name unless it holds a '/'.
      return name.indexOf(SLASH, ni) < 0;
    }
    let rest = matchChunk(p, chunk.start, chunk.end, name, ni);
    if (rest >= 0 && (rest === name.length || pi < p.length)) {
      ni = rest;
      continue;
    }
    if (rest === BAD) return BAD;
    if (chunk.star) {
      for (let i = ni; i < name.length && name[i] !== SLASH; i++) {
        rest = matchChunk(p, chunk.start, chunk.end, name, i + 1);
        if (rest >= 0) {
          if (pi === p.length && rest < name.length) continue;
          ni = rest;
          continue outer;
        }
        if (rest === BAD) return BAD;
      }
    }
    // No match; still report a malformed remainder, as Go does.
    while (pi < p.length) {
      const next = scanChunk(p, pi);
      pi = next.end;
      if (matchChunk(p, next.start, next.end, EMPTY, 0) === BAD) return BAD;
    }
    return false;
  }
  return ni === name.length;
}

const EMPTY = new Uint8Array(0);

/** The next run of non-star pattern bytes, and whether stars preceded it. */
function scanChunk(p: Uint8Array, from: number): { star: boolean; start: number; end: number } {
  let i = from;
  let star = false;
  while (i < p.length && p[i] === STAR) {
    i++;
    star = true;
  }
  const start = i;
  let inRange = false;
  for (; i < p.length; i++) {
    const c = p[i];
    if (c === BACKSLASH) {
      if (i + 1 < p.length) i++;
    } else if (c === LBRACKET) inRange = true;
    else if (c === RBRACKET) inRange = false;
    else if (c === STAR && !inRange) break;
  }
  return { star, start, end: i };
}

/**
 * Matches the chunk `p[cs..ce)` against the start of `s[si..]`: the index in
 * `s` after the match, FAIL, or BAD. After a mismatch the chunk is still parsed
 * to the end so that syntax errors surface.
 */
function matchChunk(p: Uint8Array, cs: number, ce: number, s: Uint8Array, si: number): number {
  let failed = false;
  let i = cs;
  while (i < ce) {
    if (!failed && si >= s.length) failed = true;
    const c = p[i];
    if (c === LBRACKET) {
      let rune = 0;
      if (!failed) {
        const [r, width] = decodeRune(s, si, s.length);
        rune = r;
        si += width;
      }
      i++;
      let negated = false;
      if (i < ce && p[i] === CARET) {
        negated = true;
        i++;
      }
      let matched = false;
      let ranges = 0;
      for (;;) {
        if (i < ce && p[i] === RBRACKET && ranges > 0) {
          i++;
          break;
        }
        const lo = classChar(p, i, ce);
        if (lo === undefined) return BAD;
        i = lo.next;
        let hi = lo.rune;
        if (p[i] === DASH) {
          const high = classChar(p, i + 1, ce);
          if (high === undefined) return BAD;
          i = high.next;
          hi = high.rune;
        }
        if (lo.rune <= rune && rune <= hi) matched = true;
        ranges++;
      }
      if (matched === negated) failed = true;
    } else if (c === QUESTION) {
      if (!failed) {
        if (s[si] === SLASH) failed = true;
        si += decodeRune(s, si, s.length)[1];
      }
      i++;
    } else {
      if (c === BACKSLASH) {
        i++;
        if (i >= ce) return BAD;
      }
      if (!failed) {
        if (p[i] !== s[si]) failed = true;
        si++;
      }
      i++;
    }
  }
  return failed ? FAIL : si;
}

/** A possibly escaped character of a class, or undefined where Go reports ErrBadPattern. */
function classChar(p: Uint8Array, from: number, end: number): { rune: number; next: number } | undefined {
  let i = from;
  if (i >= end || p[i] === DASH || p[i] === RBRACKET) return undefined;
  if (p[i] === BACKSLASH) {
    i++;
    if (i >= end) return undefined;
  }
  const [rune, width] = decodeRune(p, i, end);
  if (rune === RUNE_ERROR && width === 1) return undefined;
  i += width;
  // Something (at least the closing bracket) must follow.
  if (i >= end) return undefined;
  return { rune, next: i };
}

/** utf8.DecodeRune: the rune at `i` and its width; (U+FFFD, 1) for an invalid sequence. */
function decodeRune(b: Uint8Array, i: number, end: number): [number, number] {
  if (i >= end) return [RUNE_ERROR, 0];
  const b0 = b[i]!;
  if (b0 < 0x80) return [b0, 1];
  let need: number;
  let min: number;
  let cp: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) [need, min, cp] = [1, 0x80, b0 & 0x1f];
  else if (b0 >= 0xe0 && b0 <= 0xef) [need, min, cp] = [2, 0x800, b0 & 0x0f];
  else if (b0 >= 0xf0 && b0 <= 0xf4) [need, min, cp] = [3, 0x10000, b0 & 0x07];
  else return [RUNE_ERROR, 1];
  if (i + need >= end) return [RUNE_ERROR, 1];
  for (let k = 1; k <= need; k++) {
    const cont = b[i + k]!;
    if ((cont & 0xc0) !== 0x80) return [RUNE_ERROR, 1];
    cp = (cp << 6) | (cont & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return [RUNE_ERROR, 1];
  return [cp, need + 1];
}

/**
 * True when a path holds an unescaped `*`, `?` or `[` — BuildKit's test for
 * "this COPY source is a wildcard" (a `\` hides the next byte).
 */
export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === STAR || c === QUESTION || c === LBRACKET) return true;
  }
  return false;
}

/**
 * Splits a cleaned absolute source into the components before the first
 * wildcard component and the rest (BuildKit's `splitWildcards`):
 * `/a/b*` → [`/a`, `b*`]; `/x/*.go/y` → [`/x`, `*.go/y`]; no wildcard → [path, ''].
 */
export function splitWildcards(path: string): [string, string] {
  const parts = path.split('/');
  const index = parts.findIndex((part) => containsWildcards(part));
  if (index < 0) return [path, ''];
  const head = '/' + parts.slice(0, index).filter((part) => part !== '').join('/');
  return [head, parts.slice(index).join('/')];
}
