/**
 * The value syntaxes BuildKit's instruction parser borrows from Go's
 * standard library and two small libraries: `strconv.ParseBool`,
 * `strconv.ParseUint`/`ParseInt`, `time.ParseDuration`, go-units'
 * `RAMInBytes` and go-csvvalue's `Fields`. Each accepts exactly what the Go
 * one accepts; where BuildKit shows Go's error text, so do we.
 * @module
 */
import { CsvError, csvFields as readCsvFields, utf8Length } from '../../csv.js';
import { goQuote } from '../shell/runes.js';
import { goToLower } from '../unicode.js';

/** A value Go would reject; `message` is Go's error text. */
export class GoValueError {
  constructor(readonly message: string) {}
}

/** `strconv.ParseBool`. */
export function parseGoBool(text: string): boolean | undefined {
  switch (text) {
    case '1':
    case 't':
    case 'T':
    case 'true':
    case 'TRUE':
    case 'True':
      return true;
    case '0':
    case 'f':
    case 'F':
    case 'false':
    case 'FALSE':
    case 'False':
      return false;
  }
  return undefined;
}

/** `strconv.ParseUint(text, base, 32)` for base 8 or 10: digits only, no sign, no prefix. */
export function parseGoUint32(text: string, base: 8 | 10): number | undefined {
  const digits = base === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!digits.test(text)) return undefined;
  const value = Number.parseInt(text, base);
  return value <= 0xffffffff ? value : undefined;
}

/** `strconv.ParseInt(text, 10, 32)`, with Go's error text. */
export function parseGoInt32(text: string): number {
  const syntax = () => new GoValueError(`strconv.ParseInt: parsing ${goQuote(text)}: invalid syntax`);
  const range = () => new GoValueError(`strconv.ParseInt: parsing ${goQuote(text)}: value out of range`);
  let digits = text;
  const negative = digits.startsWith('-');
  if (negative || digits.startsWith('+')) digits = digits.slice(1);
  if (digits === '') throw syntax();
  // Go reads digit by digit and reports overflow as soon as the value
  // passes 2^32-1, even if a bad character follows.
  let magnitude = 0;
  for (const ch of digits) {
    if (ch < '0' || ch > '9') throw syntax();
    magnitude = magnitude * 10 + (ch.charCodeAt(0) - 0x30);
    if (magnitude > 0xffffffff) throw range();
  }
  if (negative ? magnitude > 2147483648 : magnitude > 2147483647) throw range();
  return negative ? -magnitude : magnitude;
}

const NANOSECONDS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  '\u00b5s': 1_000n, // micro sign
  '\u03bcs': 1_000n, // Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const MAX_DURATION = (1n << 63n) - 1n;

/** The `time` package's own quoting: non-ASCII and control bytes as `\xNN`. */
function timeQuote(text: string): string {
  let out = '"';
  for (const byte of new TextEncoder().encode(text)) {
    if (byte >= 0x80 || byte < 0x20) out += '\\x' + byte.toString(16).padStart(2, '0');
    else {
      const ch = String.fromCharCode(byte);
      out += ch === '"' || ch === '\\' ? '\\' + ch : ch;
    }
  }
  return out + '"';
}

/**
 * `time.ParseDuration`: a signed sequence of decimal numbers with units
 * (`1h30m`, `1.5s`, `-300ms`, `2h45m0.5s`; units ns us µs μs ms s m h), or
 * a bare `0`. Returns nanoseconds.
 */
export function parseGoDuration(text: string): bigint {
  const invalid = () => new GoValueError(`time: invalid duration ${timeQuote(text)}`);
  let rest = text;
  let negative = false;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    negative = rest[0] === '-';
    rest = rest.slice(1);
  }
  if (rest === '0') return 0n;
  if (rest === '') throw invalid();
  let total = 0n;
  while (rest !== '') {
    const number = /^([0-9]*)(?:\.([0-9]*))?/.exec(rest)!;
    const whole = number[1]!;
    const fraction = number[2];
    if (whole === '' && !fraction) throw invalid();
    rest = rest.slice(number[0].length);
    let unitEnd = 0;
    while (unitEnd < rest.length && !/[0-9.]/.test(rest[unitEnd]!)) unitEnd++;
    if (unitEnd === 0) throw new GoValueError(`time: missing unit in duration ${timeQuote(text)}`);
    const unitText = rest.slice(0, unitEnd);
    rest = rest.slice(unitEnd);
    const unit = NANOSECONDS_PER_UNIT[unitText];
    if (unit === undefined || !Object.hasOwn(NANOSECONDS_PER_UNIT, unitText)) {
      throw new GoValueError(`time: unknown unit ${timeQuote(unitText)} in duration ${timeQuote(text)}`);
    }
    const wholeValue = whole === '' ? 0n : BigInt(whole);
    if (wholeValue > 1n << 63n || wholeValue > (1n << 63n) / unit) throw invalid();
    let value = wholeValue * unit;
    if (fraction) {
      // Go keeps at most 19 fraction digits and scales through a float64.
      const kept = keptFractionDigits(fraction);
      if (kept !== '') {
        const f = Number(BigInt(kept));
        const scale = 10 ** kept.length;
        value += BigInt(Math.trunc(f * (Number(unit) / scale)));
      }
      if (value > 1n << 63n) throw invalid();
    }
    total += value;
    if (total > 1n << 63n) throw invalid();
  }
  if (negative) return -total;
  if (total > MAX_DURATION) throw invalid();
  return total;
}

/** The fraction digits Go accumulates before its uint64 would overflow. */
function keptFractionDigits(digits: string): string {
  let value = 0n;
  let kept = '';
  for (const digit of digits) {
    if (value > ((1n << 63n) - 1n) / 10n) break;
    const next = value * 10n + BigInt(digit);
    if (next > 1n << 63n) break;
    value = next;
    kept += digit;
  }
  return kept;
}

const INT64_MIN = -9223372036854775808;

/** `strconv.ParseFloat(text, 64)` for the forms go-units can meet. */
function parseGoFloat(text: string): number | undefined {
  if (/^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(text)) return Number(text);
  if (/^[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+$/.test(text)) {
    const match = /^([+-]?)0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)[pP]([+-]?[0-9]+)$/.exec(text)!;
    const mantissa = Number.parseInt((match[2] || '0') + (match[3] ?? ''), 16);
    const exponent = Number(match[4]) - 4 * (match[3]?.length ?? 0);
    return (match[1] === '-' ? -1 : 1) * mantissa * 2 ** exponent;
  }
  const lower = goToLower(text);
  if (/^[+-]?(?:inf|infinity)$/.test(lower)) return lower.startsWith('-') ? -Infinity : Infinity;
  if (lower === 'nan') return NaN;
  return undefined;
}

/** Go's float64 → int64 conversion as amd64 does it (out of range and NaN give the minimum). */
function goInt64(value: number): number {
  if (!Number.isFinite(value) || value >= 2 ** 63 || value < -(2 ** 63)) return INT64_MIN;
  return Math.trunc(value);
}

const BINARY_UNITS: Readonly<Record<string, number>> = {
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/**
 * go-units `RAMInBytes` as vendored by BuildKit: a number and an optional
 * binary suffix (`b`, `k`, `kb`, `kib`, … `p`, any case, an optional space
 * between). Returns undefined when it does not parse.
 *
 * @example
 * ```ts
 * ramInBytes('64m');   // 67108864
 * ramInBytes('1.5 KiB'); // 1536
 * ramInBytes('lots');  // undefined
 * ```
 */
export function ramInBytes(text: string): number | undefined {
  let sep = -1;
  for (let i = text.length - 1; i >= 0; i--) {
    if ('01234567890. '.includes(text[i]!)) {
      sep = i;
      break;
    }
  }
  if (sep < 0) return undefined;
  const number = text.slice(0, text[sep] === ' ' ? sep : sep + 1);
  let suffix = text.slice(sep + 1);
  const size = parseGoFloat(number);
  if (size === undefined || size < 0) return undefined;
  if (suffix === '') return goInt64(size);
  if (utf8Length(suffix) > 3) return undefined;
  suffix = goToLower(suffix);
  if (suffix[0] === 'b') return suffix.length > 1 ? undefined : goInt64(size);
  const multiplier = Object.hasOwn(BINARY_UNITS, suffix[0]!) ? BINARY_UNITS[suffix[0]!] : undefined;
  if (multiplier === undefined) return undefined;
  if (suffix.length === 2 && suffix[1] !== 'b') return undefined;
  if (suffix.length === 3 && suffix.slice(1) !== 'ib') return undefined;
  return goInt64(size * multiplier);
}

/**
 * go-csvvalue `Fields`: one CSV record, `,`-separated, fields optionally in
 * double quotes with `""` for a quote. Errors carry encoding/csv's text.
 */
export function csvFields(input: string): string[] {
  try {
    return readCsvFields(input);
  } catch (err) {
    throw err instanceof CsvError ? new GoValueError(err.message) : err;
  }
}

