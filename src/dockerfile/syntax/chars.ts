/**
 * Character classes and case mappings with Go's semantics. BuildKit's parser
 * is written in Go, and where JavaScript's built-ins disagree with Go's
 * (`\s`, `toLowerCase`, `trim`) the parser has to use these instead.
 * @module
 */

/** Go's `unicode.IsSpace` for one UTF-16 code unit (no space is astral). */
export function isGoSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0x85) return false;
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** The class of BuildKit's `reWhitespace` (`[\t\v\f\r ]`): ASCII only, no newline. */
export function isAsciiBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0b || c === 0x0c || c === 0x0d;
}

/** Go's `strings.TrimSpace`: both ends, Unicode white space. */
export function goTrimSpace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isGoSpace(s.charCodeAt(start))) start++;
  while (end > start && isGoSpace(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** Index of the first character of `s` at or after `from` that is not Go white space. */
export function skipGoSpace(s: string, from: number, to = s.length): number {
  while (from < to && isGoSpace(s.charCodeAt(from))) from++;
  return from;
}

const ASCII_ONLY = /^[\x00-\x7f]*$/;

/** True when every character of `s` is ASCII. */
export function isAscii(s: string): boolean {
  return ASCII_ONLY.test(s);
}

/**
 * Go's `strings.ToLower`: simple, per-character mapping. JavaScript's full
 * mapping differs for `İ` (Go gives `i`) and for a word-final `Σ`.
 */
export function goToLower(s: string): string {
  if (isAscii(s)) return s.toLowerCase();
  let out = '';
  for (const ch of s) {
    const lower = ch.toLowerCase();
    out += ch === '\u0130' ? 'i' : isRawByte(ch) ? '\ufffd' : [...lower].length === 1 ? lower : ch;
  }
  return out;
}

/**
 * Whether `ch` stands for a raw byte (U+DC80–U+DCFF, see {@link fromByteString}).
 * Go code that walks such text by runes sees U+FFFD there, and writes U+FFFD
 * where it rebuilds the text (`strings.ToLower`, BuildKit's word splitting).
 */
export function isRawByte(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return ch.length === 1 && c >= 0xdc80 && c <= 0xdcff;
}

/** A lone U+DC80–U+DCFF: not the second half of a surrogate pair. */
const RAW_BYTES = /(?<![\ud800-\udbff])[\udc80-\udcff]/g;

/** `s` with every raw byte (see {@link isRawByte}) replaced by U+FFFD, as Go's rune loops rebuild it. */
export function rawBytesToReplacement(s: string): string {
  RAW_BYTES.lastIndex = 0;
  return RAW_BYTES.test(s) ? s.replace(RAW_BYTES, '\ufffd') : s;
}

/**
 * Go's `strings.ToUpper`: simple, per-character mapping; a character whose
 * full mapping expands (`ß` → `SS`) stays as it is.
 */
export function goToUpper(s: string): string {
  if (isAscii(s)) return s.toUpperCase();
  let out = '';
  for (const ch of s) {
    const upper = ch.toUpperCase();
    out += isRawByte(ch) ? '\ufffd' : [...upper].length === 1 ? upper : ch;
  }
  return out;
}

const encoder = new TextEncoder();

/** Length of `s` in UTF-8 bytes (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  if (isAscii(s)) return s.length;
  return encoder.encode(s).length;
}

/**
 * `s` as a "binary" string: one character per UTF-8 byte (Latin-1). Some of
 * BuildKit's scanners walk bytes, not characters (`extractBuilderFlags`,
 * the HEALTHCHECK type); running the same algorithm over this string
 * reproduces them, mojibake included. A lone surrogate U+DC80–U+DCFF stands
 * for the raw byte 0x80–0xFF (see {@link fromByteString}); any other lone
 * surrogate is written as U+FFFD.
 */
export function toByteString(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    let cp = s.charCodeAt(i);
    if (cp < 0x80) {
      out += s[i];
      continue;
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const low = s.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else {
        cp = 0xfffd;
      }
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
      if (cp >= 0xdc80 && cp <= 0xdcff) {
        out += String.fromCharCode(cp - 0xdc00);
        continue;
      }
      cp = 0xfffd;
    }
    if (cp < 0x800) {
      out += String.fromCharCode(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += String.fromCharCode(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    } else {
      out += String.fromCharCode(
        0xf0 | (cp >> 18),
        0x80 | ((cp >> 12) & 0x3f),
        0x80 | ((cp >> 6) & 0x3f),
        0x80 | (cp & 0x3f),
      );
    }
  }
  return out;
}

/**
 * The inverse of {@link toByteString}, decoding as Go does: a byte that does
 * not start a valid UTF-8 sequence is one invalid character. Such a byte
 * becomes the lone surrogate U+DC00 + byte ("surrogate escape"), so the text
 * still says which byte BuildKit holds there; the dump prints it as `\xHH`,
 * like Go's `strconv.Quote`.
 */
export function fromByteString(b: string): string {
  let out = '';
  const n = b.length;
  for (let i = 0; i < n; ) {
    const b0 = b.charCodeAt(i);
    if (b0 < 0x80) {
      out += b[i];
      i++;
      continue;
    }
    const cp = decodeSequence(b, i, b0);
    if (cp < 0) {
      out += String.fromCharCode(0xdc00 + b0);
      i++;
      continue;
    }
    out += String.fromCodePoint(cp);
    i += cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return out;
}

/** The code point of the UTF-8 sequence at `i` (Go's accepted ranges), or -1. */
function decodeSequence(b: string, i: number, b0: number): number {
  const cont = (k: number, lo = 0x80, hi = 0xbf): number => {
    const c = b.charCodeAt(i + k);
    return c >= lo && c <= hi ? c & 0x3f : -1;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1);
    return c1 < 0 ? -1 : ((b0 & 0x1f) << 6) | c1;
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const c1 = cont(1, b0 === 0xe0 ? 0xa0 : 0x80, b0 === 0xed ? 0x9f : 0xbf);
    const c2 = c1 < 0 ? -1 : cont(2);
    return c2 < 0 ? -1 : ((b0 & 0x0f) << 12) | (c1 << 6) | c2;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const c1 = cont(1, b0 === 0xf0 ? 0x90 : 0x80, b0 === 0xf4 ? 0x8f : 0xbf);
    const c2 = c1 < 0 ? -1 : cont(2);
    const c3 = c2 < 0 ? -1 : cont(3);
    return c3 < 0 ? -1 : ((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3;
  }
  return -1;
}
