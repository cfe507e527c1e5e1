/**
 * Go's text formatting where BuildKit's history strings use it: `%q` of a
 * string list (`CMD ["a" "b"]`), `%v` of a list (`VOLUME [/a /b]`) and
 * `time.Duration` (`30s`, `1m30s`).
 * @module
 */
import { goQuote } from '../dockerfile/syntax/go-quote.js';

export { goQuote };

/** `fmt.Sprintf("%q", []string{…})`: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return '[' + list.map((s) => goQuote(s)).join(' ') + ']';
}

/** `fmt.Sprintf("%v", []string{…})`: `[a b]`. */
export function goList(list: readonly string[]): string {
  return '[' + list.join(' ') + ']';
}

/**
 * `time.Duration.String()` for a duration in nanoseconds: `0s`, `500ms`,
 * `1.5s`, `1m30s`, `2h0m0s`.
 */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const negative = ns < 0;
  let n = Math.abs(Math.round(ns));
  let out: string;
  if (n < 1e9) {
    // Below one second: the largest unit that keeps the integer part non-zero.
    const [unit, size] = n < 1e3 ? ['ns', 1] : n < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = fraction(n, size as number) + unit;
  } else {
    const hours = Math.floor(n / 3.6e12);
    n -= hours * 3.6e12;
    const minutes = Math.floor(n / 6e10);
    n -= minutes * 6e10;
    out = fraction(n, 1e9) + 's';
    if (hours > 0 || minutes > 0) out = `${minutes}m` + out;
    if (hours > 0) out = `${hours}h` + out;
  }
  return negative ? '-' + out : out;
}

function fraction(value: number, unit: number): string {
  const whole = Math.floor(value / unit);
  const rest = value - whole * unit;
  if (rest === 0) return String(whole);
  const digits = String(unit).length - 1;
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`;
}
