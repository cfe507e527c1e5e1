/**
 * Character classes and conversions with Go's meanings, so that the lexer
 * splits and names exactly where BuildKit does (Go's `unicode.IsSpace` is not
 * JavaScript's `\s`: it has U+0085 and lacks U+FEFF). Letters, digits and
 * printable characters come from Go's tables at a fixed Unicode version
 * (`../unicode.ts`), not from the running engine's `\p{…}`.
 * @module
 */
import { goQuote as quote } from '../syntax/go-quote.js';
import { isGoDigit, isGoLetter } from '../unicode.js';

/** Go's `scanner.EOF`. */
export const EOF = -1;

/** U+FFFD, what Go reads for an invalid encoding and prints for `string(rune(-1))`. */
export const REPLACEMENT = 0xfffd;

/** Code points, as {@link decodeRunes} gives them or as built from them. */
export type Runes = Int32Array | readonly number[];

/**
 * The code points of `text` and the UTF-16 offset where each starts (plus one
 * final offset for the end). A lone surrogate reads as U+FFFD, as Go reads
 * the bytes such a string encodes to. Typed arrays: a word can be megabytes.
 */
export function decodeRunes(text: string): { runes: Int32Array; offsets: Int32Array } {
  const runes = new Int32Array(text.length);
  const offsets = new Int32Array(text.length + 1);
  let n = 0;
  for (let i = 0; i < text.length; ) {
    offsets[n] = i;
    const unit = text.charCodeAt(i);
    if (unit < 0xd800 || unit > 0xdfff) {
      runes[n++] = unit;
      i += 1;
      continue;
    }
    const cp = text.codePointAt(i)!;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      runes[n++] = REPLACEMENT;
      i += 1;
    } else {
      runes[n++] = cp;
      i += 2;
    }
  }
  offsets[n] = text.length;
  return n === text.length ? { runes, offsets } : { runes: runes.subarray(0, n), offsets: offsets.subarray(0, n + 1) };
}

/** The string of one rune, with Go's U+FFFD for EOF and invalid values. */
export function runeString(rune: number): string {
  if (rune < 0 || rune > 0x10ffff || (rune >= 0xd800 && rune <= 0xdfff)) return '\ufffd';
  return String.fromCodePoint(rune);
}

/** Joins runes into a string without overflowing the argument limit. */
export function runesToString(runes: Runes, start = 0, end = runes.length): string {
  let out = '';
  for (let i = start; i < end; i += 4096) {
    out += String.fromCodePoint(...runes.slice(i, Math.min(end, i + 4096)));
  }
  return out;
}

/** Go's `unicode.IsSpace`. */
export function isSpace(rune: number): boolean {
  if (rune <= 0xff) {
    return (rune >= 0x09 && rune <= 0x0d) || rune === 0x20 || rune === 0x85 || rune === 0xa0;
  }
  return (
    rune === 0x1680 ||
    (rune >= 0x2000 && rune <= 0x200a) ||
    rune === 0x2028 ||
    rune === 0x2029 ||
    rune === 0x202f ||
    rune === 0x205f ||
    rune === 0x3000
  );
}

/** Go's `unicode.IsLetter`. */
export const isLetter = isGoLetter;

/** Go's `unicode.IsDigit`. */
export const isDigit = isGoDigit;

/**
 * Go's `strconv.Quote`, used to echo the failing word in error messages
 * exactly as BuildKit prints it; a lone surrogate prints as U+FFFD.
 */
export function goQuote(text: string): string {
  return quote(text, { rawBytes: false });
}
