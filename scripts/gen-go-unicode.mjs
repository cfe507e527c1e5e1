#!/usr/bin/env node
/**
 * Writes src/dockerfile/unicode.ts: the character classes and case mappings
 * BuildKit's Go code uses (unicode.IsLetter, unicode.IsDigit,
 * strconv.IsPrint, strings.ToLower, strings.ToUpper), at the Unicode
 * version of the Go release the reference oracle was built with, so that
 * layerkit's answers do not change with the Node version it runs on.
 *
 * The data come from Go's own generated tables, as Debian ships them in the
 * `golang-1.19-src` package (Go 1.19.8, Unicode 13.0.0):
 *
 *   apt-get install -y golang-1.19-src
 *   node scripts/gen-go-unicode.mjs            # rewrites src/dockerfile/unicode.ts
 *   node scripts/gen-go-unicode.mjs --check    # fails if the file is out of date
 *
 * `GO_SRC` points elsewhere (default /usr/share/go-1.19/src). Every class is
 * computed for each code point the way the Go function decides it (Latin-1
 * from the `properties` table, the rest from the range tables), and the
 * printable set is computed twice — from strconv's compact isprint tables
 * and from unicode's category tables (L, M, N, P, S and U+0020) — and the
 * two must agree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const GO_SRC = process.env.GO_SRC || '/usr/share/go-1.19/src';
const OUT = resolve(dirname(fileURLToPath(import.meta.url)), '../src/dockerfile/unicode.ts');
const MAX = 0x10ffff;

const tables = readFileSync(`${GO_SRC}/unicode/tables.go`, 'utf8');
const isprint = readFileSync(`${GO_SRC}/strconv/isprint.go`, 'utf8');
const unicodeVersion = /const Version = "([^"]+)"/.exec(tables)?.[1];
if (!unicodeVersion) throw new Error('no Unicode version in tables.go');

/** The body of `var NAME = ...{ ... }` (up to the closing brace at column 0). */
function block(source, name) {
  const start = source.indexOf(`\nvar ${name} = `);
  if (start < 0) throw new Error(`no table ${name}`);
  const end = source.indexOf('\n}\n', start);
  return source.slice(start, end);
}

/** A RangeTable of tables.go as a membership bitmap. */
function rangeTable(name) {
  const set = new Uint8Array(MAX + 1);
  const entry = /\{0x([0-9a-f]+), 0x([0-9a-f]+), (\d+)\}/g;
  for (const [, lo, hi, stride] of block(tables, name).matchAll(entry)) {
    for (let c = parseInt(lo, 16); c <= parseInt(hi, 16); c += Number(stride)) set[c] = 1;
  }
  return set;
}

/** Go's `properties` table for Latin-1: the flag names set on each code point. */
function latin1Properties() {
  const props = [];
  const entry = /^\s*0x([0-9A-F]{2}): ([^,]+),/gm;
  for (const [, at, flags] of block(tables, 'properties').matchAll(entry)) {
    props[parseInt(at, 16)] = flags === '0' ? [] : flags.split('|').map((f) => f.trim());
  }
  if (props.length !== 256 || props.includes(undefined)) throw new Error('incomplete properties table');
  return props;
}

/** Go's strconv.IsPrint, from isprint.go's tables. */
function strconvPrint() {
  const numbers = (name) => [...block(isprint, name).matchAll(/0x([0-9a-f]+)/g)].map((m) => parseInt(m[1], 16));
  const print16 = numbers('isPrint16');
  const notPrint16 = new Set(numbers('isNotPrint16'));
  const print32 = numbers('isPrint32');
  const notPrint32 = new Set(numbers('isNotPrint32').map((c) => c + 0x10000));
  const inPairs = (pairs, c) => {
    for (let i = 0; i < pairs.length; i += 2) if (pairs[i] <= c && c <= pairs[i + 1]) return true;
    return false;
  };
  const set = new Uint8Array(MAX + 1);
  for (let c = 0; c <= MAX; c++) {
    if (c <= 0xff) set[c] = (0x20 <= c && c <= 0x7e) || (0xa1 <= c && c <= 0xff && c !== 0xad) ? 1 : 0;
    else if (c < 0x10000) set[c] = inPairs(print16, c) && !notPrint16.has(c) ? 1 : 0;
    else set[c] = inPairs(print32, c) && (c >= 0x20000 || !notPrint32.has(c)) ? 1 : 0;
  }
  return set;
}

const latin1 = latin1Properties();
const has = (c, flag) => latin1[c].includes(flag);
const L = rangeTable('_L');
const Nd = rangeTable('_Nd');
const categoriesPrint = [rangeTable('_L'), rangeTable('_M'), rangeTable('_N'), rangeTable('_P'), rangeTable('_S')];

const letter = new Uint8Array(MAX + 1);
const digit = new Uint8Array(MAX + 1);
const print = strconvPrint();
for (let c = 0; c <= MAX; c++) {
  if (c <= 0xff) {
    letter[c] = has(c, 'pLu') || has(c, 'pLl') || has(c, 'pLo') ? 1 : 0;
    digit[c] = c >= 0x30 && c <= 0x39 ? 1 : 0;
    const unicodePrint = has(c, 'pp') ? 1 : 0;
    if (unicodePrint !== print[c]) throw new Error(`unicode.IsPrint and strconv.IsPrint differ at U+${c.toString(16)}`);
  } else {
    letter[c] = L[c];
    digit[c] = Nd[c];
    const unicodePrint = categoriesPrint.some((t) => t[c] === 1) ? 1 : 0;
    if (unicodePrint !== print[c]) throw new Error(`unicode.IsPrint and strconv.IsPrint differ at U+${c.toString(16)}`);
  }
}

/**
 * Go's CaseRanges (simple case mapping) as [start, end, upper delta, lower
 * delta] entries; `UpperLower` (alternating upper/lower pairs) as 'u'.
 */
function caseRanges() {
  const entry = /\{0x([0-9A-F]+), 0x([0-9A-F]+), d\{([^,]+), ([^,]+), ([^}]+)\}\}/g;
  const ranges = [];
  for (const [, lo, hi, upper, lower] of block(tables, '_CaseRanges').matchAll(entry)) {
    ranges.push([parseInt(lo, 16), parseInt(hi, 16), upper.trim(), lower.trim()]);
  }
  if (ranges.length < 300) throw new Error(`only ${ranges.length} case ranges found`);
  const parts = [];
  let previousEnd = -1;
  for (const [lo, hi, upper, lower] of ranges) {
    if (lo <= previousEnd) throw new Error('case ranges out of order');
    const delta = (d) => (d === 'UpperLower' ? 'u' : Number(d).toString(36));
    parts.push((lo - previousEnd - 1).toString(36), (hi - lo).toString(36), delta(upper), delta(lower));
    previousEnd = hi;
  }
  return { text: parts.join(','), count: ranges.length };
}

const caseTable = caseRanges();

/** A set as inclusive ranges, encoded as base-36 (gap, length - 1) pairs. */
function encode(set) {
  const parts = [];
  let previousEnd = -1;
  let count = 0;
  for (let c = 0; c <= MAX; c++) {
    if (!set[c]) continue;
    let end = c;
    while (end < MAX && set[end + 1]) end++;
    parts.push((c - previousEnd - 1).toString(36), (end - c).toString(36));
    previousEnd = end;
    count++;
    c = end;
  }
  return { text: parts.join(','), count };
}

/** A long string literal cut into lines of at most ~100 characters. */
function literal(text) {
  const lines = [];
  for (let i = 0; i < text.length; ) {
    let end = Math.min(text.length, i + 96);
    if (end < text.length) end = text.lastIndexOf(',', end) + 1;
    lines.push(`  '${text.slice(i, end)}'`);
    i = end;
  }
  return lines.join(' +\n');
}

const letterTable = encode(letter);
const digitTable = encode(digit);
const printTable = encode(print);

const source = `/**
 * The character classes and case mappings of Go's standard library that
 * BuildKit's Dockerfile code depends on — \`unicode.IsLetter\`,
 * \`unicode.IsDigit\`, \`strconv.IsPrint\`, \`strings.ToLower\` and
 * \`strings.ToUpper\` — at a fixed Unicode version, so that layerkit answers
 * the same on every Node version (JavaScript's \`\\p{…}\` classes follow the
 * Unicode version of the running engine).
 *
 * Generated by \`scripts/gen-go-unicode.mjs\` from Go's own tables in Debian's
 * \`golang-1.19-src\`: \`src/unicode/tables.go\` (Unicode ${unicodeVersion}) and
 * \`src/strconv/isprint.go\`. Go 1.19 compiled the BuildKit build that the
 * differential tests use as the reference. Do not edit by hand: regenerate,
 * and \`--check\` that the file is current.
 *
 * Each class lists inclusive code point ranges as base-36 pairs: the gap
 * since the previous range's end, then the range's length minus one. The
 * case table adds each range's upper and lower case deltas (\`u\` for
 * Go's alternating \`UpperLower\` ranges).
 * @module
 */

/** The Unicode version of these tables (Go 1.19's \`unicode.Version\`). */
export const GO_UNICODE_VERSION = '${unicodeVersion}';

/** Decodes a table into [start0, end0, start1, end1, …]. */
function decode(table: string): Uint32Array {
  const numbers = table.split(',');
  const ranges = new Uint32Array(numbers.length);
  let end = -1;
  for (let i = 0; i < numbers.length; i += 2) {
    const start = end + 1 + parseInt(numbers[i]!, 36);
    end = start + parseInt(numbers[i + 1]!, 36);
    ranges[i] = start;
    ranges[i + 1] = end;
  }
  return ranges;
}

/** True when \`codePoint\` lies in one of the sorted, disjoint ranges. */
function inRanges(ranges: Uint32Array, codePoint: number): boolean {
  let lo = 0;
  let hi = ranges.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (codePoint < ranges[2 * mid]!) hi = mid - 1;
    else if (codePoint > ranges[2 * mid + 1]!) lo = mid + 1;
    else return true;
  }
  return false;
}

// Letters (category L): ${letterTable.count} ranges.
const LETTER = decode(
${literal(letterTable.text)},
);

// Decimal digits (category Nd): ${digitTable.count} ranges.
const DIGIT = decode(
${literal(digitTable.text)},
);

// Printable (categories L, M, N, P, S and U+0020): ${printTable.count} ranges.
const PRINT = decode(
${literal(printTable.text)},
);

/** Go's \`UpperLower\` delta: the range alternates upper and lower case letters. */
const UPPER_LOWER = 0x110000;

/** Decodes the case table into [start, end, upper delta, lower delta, …]. */
function decodeCases(table: string): Int32Array {
  const numbers = table.split(',');
  const ranges = new Int32Array(numbers.length);
  let end = -1;
  for (let i = 0; i < numbers.length; i += 4) {
    const start = end + 1 + parseInt(numbers[i]!, 36);
    end = start + parseInt(numbers[i + 1]!, 36);
    ranges[i] = start;
    ranges[i + 1] = end;
    for (const k of [2, 3]) ranges[i + k] = numbers[i + k] === 'u' ? UPPER_LOWER : parseInt(numbers[i + k]!, 36);
  }
  return ranges;
}

// Case mappings (Go's CaseRanges): ${caseTable.count} ranges.
const CASES = decodeCases(
${literal(caseTable.text)},
);

/** Go's \`unicode.To\` for upper (0) or lower (1) case. */
function mapCase(codePoint: number, lower: 0 | 1): number {
  let lo = 0;
  let hi = CASES.length / 4 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const start = CASES[4 * mid]!;
    if (codePoint < start) hi = mid - 1;
    else if (codePoint > CASES[4 * mid + 1]!) lo = mid + 1;
    else {
      const delta = CASES[4 * mid + 2 + lower]!;
      // Alternating pairs: even offsets are upper case, odd ones lower.
      if (delta === UPPER_LOWER) return start + (((codePoint - start) & ~1) | lower);
      return codePoint + delta;
    }
  }
  return codePoint;
}

/** Maps each code point of \`text\`; a lone surrogate becomes U+FFFD, as Go rewrites an invalid byte. */
function mapString(text: string, map: (codePoint: number) => number): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    let cp = text.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    out += String.fromCodePoint(map(cp));
  }
  return out;
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * Go's \`unicode.ToLower\`: the simple lower-case mapping (Unicode ${unicodeVersion}).
 * @example
 * \`\`\`ts
 * goToLowerRune(0x41);     // 0x61 ('A' → 'a')
 * goToLowerRune(0x130);    // 0x69 ('İ' → 'i')
 * goToLowerRune(0x10589);  // 0x10589 (a Vithkuqi capital: cased only since Unicode 14)
 * \`\`\`
 */
export function goToLowerRune(codePoint: number): number {
  if (codePoint < 0x80) return codePoint >= 0x41 && codePoint <= 0x5a ? codePoint + 0x20 : codePoint;
  return mapCase(codePoint, 1);
}

/**
 * Go's \`unicode.ToUpper\`: the simple upper-case mapping (Unicode ${unicodeVersion}).
 * @example
 * \`\`\`ts
 * goToUpperRune(0x61);  // 0x41 ('a' → 'A')
 * goToUpperRune(0xdf);  // 0xdf ('ß' has no single-letter upper case)
 * \`\`\`
 */
export function goToUpperRune(codePoint: number): number {
  if (codePoint < 0x80) return codePoint >= 0x61 && codePoint <= 0x7a ? codePoint - 0x20 : codePoint;
  return mapCase(codePoint, 0);
}

/**
 * Go's \`strings.ToLower\`: each code point mapped alone (JavaScript's
 * \`toLowerCase\` also maps \`İ\` to two characters and follows the engine's
 * Unicode version).
 * @example
 * \`\`\`ts
 * goToLower('COPY');   // 'copy'
 * goToLower('İSTANBUL'); // 'istanbul'
 * \`\`\`
 */
export function goToLower(text: string): string {
  return ASCII.test(text) ? text.toLowerCase() : mapString(text, goToLowerRune);
}

/**
 * Go's \`strings.ToUpper\`: each code point mapped alone (\`ß\` stays \`ß\`).
 * @example
 * \`\`\`ts
 * goToUpper('cmd');     // 'CMD'
 * goToUpper('straße');  // 'STRAßE'
 * \`\`\`
 */
export function goToUpper(text: string): string {
  return ASCII.test(text) ? text.toUpperCase() : mapString(text, goToUpperRune);
}

/**
 * Go's \`unicode.IsLetter\`: the code point is in category L (Unicode ${unicodeVersion}).
 * @example
 * \`\`\`ts
 * isGoLetter(0x61);   // true  ('a')
 * isGoLetter(0x870);  // false (U+0870 is a letter only since Unicode 14)
 * \`\`\`
 */
export function isGoLetter(codePoint: number): boolean {
  if (codePoint < 0x80) return (codePoint >= 0x41 && codePoint <= 0x5a) || (codePoint >= 0x61 && codePoint <= 0x7a);
  return inRanges(LETTER, codePoint);
}

/**
 * Go's \`unicode.IsDigit\`: the code point is a decimal digit, category Nd (Unicode ${unicodeVersion}).
 * @example
 * \`\`\`ts
 * isGoDigit(0x37);   // true  ('7')
 * isGoDigit(0x663);  // true  (ARABIC-INDIC DIGIT THREE)
 * isGoDigit(0xb2);   // false ('²' is No, not Nd)
 * \`\`\`
 */
export function isGoDigit(codePoint: number): boolean {
  if (codePoint < 0x80) return codePoint >= 0x30 && codePoint <= 0x39;
  return inRanges(DIGIT, codePoint);
}

/**
 * Go's \`strconv.IsPrint\` (the same set as \`unicode.IsPrint\`): letters, marks,
 * numbers, punctuation, symbols and the ASCII space — what \`strconv.Quote\`
 * writes as itself rather than as an escape (Unicode ${unicodeVersion}).
 * @example
 * \`\`\`ts
 * isGoPrint(0x20);     // true  (space)
 * isGoPrint(0xa0);     // false (no-break space is escaped: \\u00a0)
 * isGoPrint(0x1fae0);  // false (an emoji of Unicode 14)
 * \`\`\`
 */
export function isGoPrint(codePoint: number): boolean {
  if (codePoint < 0x100) return (codePoint >= 0x20 && codePoint <= 0x7e) || (codePoint >= 0xa1 && codePoint !== 0xad);
  return inRanges(PRINT, codePoint);
}
`;

if (process.argv.includes('--check')) {
  const current = readFileSync(OUT, 'utf8');
  if (current !== source) {
    console.error(`${OUT} is out of date: run node scripts/gen-go-unicode.mjs`);
    process.exit(1);
  }
  console.log(`${OUT} is current (Unicode ${unicodeVersion})`);
} else {
  writeFileSync(OUT, source);
  console.log(
    `wrote ${OUT}: Unicode ${unicodeVersion}, ${letterTable.count} letter, ${digitTable.count} digit, ${printTable.count} print, ${caseTable.count} case ranges`,
  );
}
