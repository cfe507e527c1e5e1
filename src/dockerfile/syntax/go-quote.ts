/**
 * Go's `strconv.Quote`, which BuildKit's dump uses for every value.
 * @module
 */
import { isGoPrint } from '../unicode.js';

const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * Go's `strconv.Quote`: double quotes, `\"` and `\\`, C escapes for control
 * characters, `\xHH`, `\uHHHH`, `\UHHHHHHHH` for what is not printable.
 *
 * @example
 * ```ts
 * goQuote('a"b\n'); // '"a\\"b\\n"'
 * ```
 *
 * `rawBytes` (default true) reads U+DC80–U+DCFF as the raw bytes the syntax
 * layer keeps there (see fromByteString); the shell lexer, which reads every
 * lone surrogate as U+FFFD as Go reads invalid UTF-8, passes false.
 */
export function goQuote(s: string, { rawBytes = true }: { rawBytes?: boolean } = {}): string {
  if (PLAIN.test(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    switch (cp) {
      case 0x22:
        out += '\\"';
        continue;
      case 0x5c:
        out += '\\\\';
        continue;
      case 0x07:
        out += '\\a';
        continue;
      case 0x08:
        out += '\\b';
        continue;
      case 0x0c:
        out += '\\f';
        continue;
      case 0x0a:
        out += '\\n';
        continue;
      case 0x0d:
        out += '\\r';
        continue;
      case 0x09:
        out += '\\t';
        continue;
      case 0x0b:
        out += '\\v';
        continue;
    }
    if (rawBytes && cp >= 0xdc80 && cp <= 0xdcff) {
      // A raw byte BuildKit split out of a character (see fromByteString).
      out += '\\x' + (cp - 0xdc00).toString(16);
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      // Any other unpaired surrogate cannot come from UTF-8: Go would hold U+FFFD.
      out += '\ufffd';
    } else if (isGoPrint(cp)) {
      out += ch;
    } else if (cp < 0x80) {
      out += '\\x' + cp.toString(16).padStart(2, '0');
    } else if (cp < 0x10000) {
      out += '\\u' + cp.toString(16).padStart(4, '0');
    } else {
      out += '\\U' + cp.toString(16).padStart(8, '0');
    }
  }
  return out + '"';
}
