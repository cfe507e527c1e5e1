/**
 * "Did you mean" suggestions for unknown keywords and flags, with BuildKit's
 * rule (`util/suggest`): the closest candidate within an edit distance of 2.
 * @module
 */
import { goToLower, goToUpper } from './syntax/chars.js';

/** Levenshtein distance over code points (insert, delete, substitute: cost 1). */
function distance(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = cur;
  }
  return prev[y.length]!;
}

/** Options of {@link suggest}. */
export interface SuggestOptions {
  /**
   * Compare case-sensitively (BuildKit does for flags). When false (the
   * default, as for instruction keywords) the suggestion takes the case of
   * `word`: all lower, all upper, or else the candidate lowercased.
   */
  caseSensitive?: boolean;
}

/**
 * The candidate closest to `word` when it is a plausible typo: an edit
 * distance below 3, the first candidate winning ties. Returns undefined
 * when nothing is that close, and when `word` is itself a candidate (then
 * the problem is something else).
 *
 * @example
 * ```ts
 * suggest('FORM', ['FROM', 'RUN']); // 'FROM'
 * suggest('form', ['FROM', 'RUN']); // 'from'
 * suggest('xyz', ['FROM', 'RUN']);  // undefined
 * ```
 */
export function suggest(word: string, candidates: readonly string[], options: SuggestOptions = {}): string | undefined {
  const caseSensitive = options.caseSensitive ?? false;
  const value = caseSensitive ? word : goToLower(word);
  let match: string | undefined;
  let best = 3;
  for (const candidate of candidates) {
    const option = caseSensitive ? candidate : goToLower(candidate);
    if (option === value) return undefined;
    const d = distance(value, option);
    if (d < best) {
      best = d;
      match = caseSensitive ? option : matchCase(option, word);
    }
  }
  return match;
}

function matchCase(option: string, original: string): string {
  if (original === goToLower(original)) return goToLower(option);
  if (original === goToUpper(original)) return goToUpper(option);
  return option;
}
