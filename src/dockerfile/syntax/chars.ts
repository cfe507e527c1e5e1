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
    out += ch === '\u0130' ? 'i' : [...lower].length === 1 ? lower : ch;
  }
  return out;
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
    out += [...upper].length === 1 ? upper : ch;
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
 * reproduces them, mojibake included.
 */
export function toByteString(s: string): string {
  const bytes = encoder.encode(s);
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

const decoder = new TextDecoder('utf-8');

/** The inverse of {@link toByteString}; invalid UTF-8 becomes U+FFFD. */
export function fromByteString(s: string): string {
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return decoder.decode(bytes);
}
