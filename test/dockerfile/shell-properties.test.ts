import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ShellLex } from '../../src/dockerfile/shell/index.js';
import { replacePattern, trimPrefix, trimSuffix } from '../../src/dockerfile/shell/pattern.js';

const lex = new ShellLex();

/** Characters with a meaning to the lexer (plus the BOM, which Go's scanner drops at the start). */
const SPECIAL = /[$'"\\<\ufeff]/u;
/** Any well-formed string; fast-check's full-unicode unit yields no lone surrogates. */
const text = fc.string({ unit: 'binary', maxLength: 24 });
const plainWord = text.filter((s) => !SPECIAL.test(s));
const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
/** Literal pattern text: nothing the lexer or the pattern language would interpret. */
const literal = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 6 })
  .filter((s) => !/[$'"\\<\ufeff*?}/#%]/u.test(s));

describe('shell expansion laws', () => {
  it('a word without $, quotes, escapes or < expands to itself', () => {
    fc.assert(
      fc.property(plainWord, (word) => {
        expect(lex.processWord(word, {})).toBe(word);
      }),
    );
  });

  it('processWords of plain words joined by spaces returns the words', () => {
    const word = plainWord.filter((s) => s.length > 0 && !/[\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u.test(s));
    fc.assert(fc.property(fc.array(word, { maxLength: 8 }), (words) => {
      expect(lex.processWords(words.join(' '), {})).toEqual(words);
    }));
  });

  it('escaping every character gives the text back', () => {
    fc.assert(
      fc.property(text, (s) => {
        const escaped = [...s].map((ch) => '\\' + ch).join('');
        expect(lex.processWord(escaped, {})).toBe(s);
        expect(lex.processWords(escaped, {})).toEqual(s === '' ? [] : [s]);
      }),
    );
  });

  it('single quotes keep anything but a single quote literally', () => {
    fc.assert(
      fc.property(text.filter((s) => !s.includes("'")), (s) => {
        expect(lex.processWord(`'${s}'`, { X: 'x' })).toBe(s);
      }),
    );
  });

  it('$NAME, ${NAME} and "$NAME" give the value; an unset name gives ""', () => {
    fc.assert(
      fc.property(name, text, (n, value) => {
        const env = { [n]: value };
        expect(lex.processWord(`\${${n}}`, env)).toBe(value);
        expect(lex.processWord(`"$${n}"`, env)).toBe(value);
        expect(lex.processWord(`\${${n}}`, {})).toBe('');
        expect(lex.processWords(`"$${n}"`, env)).toEqual(value === '' ? [] : [value]);
      }),
    );
  });

  it('the default and alternative modifiers follow set / null-or-unset', () => {
    fc.assert(
      fc.property(name, fc.option(text), plainWord.filter((s) => !s.includes('}')), (n, value, word) => {
        const env: Record<string, string> = value === null ? {} : { [n]: value };
        const set = value !== null;
        const nonEmpty = set && value !== '';
        expect(lex.processWord(`\${${n}-${word}}`, env)).toBe(set ? value : word);
        expect(lex.processWord(`\${${n}:-${word}}`, env)).toBe(nonEmpty ? value : word);
        expect(lex.processWord(`\${${n}+${word}}`, env)).toBe(set ? word : '');
        expect(lex.processWord(`\${${n}:+${word}}`, env)).toBe(nonEmpty ? word : '');
      }),
    );
  });

  it('a literal pattern trims a literal prefix or suffix, and // replaces every occurrence', () => {
    fc.assert(
      fc.property(text, literal, literal.filter((s) => !s.includes('/')), (value, pattern, replacement) => {
        const env = { V: value };
        for (const op of ['#', '##']) {
          const expected = value.startsWith(pattern) ? value.slice(pattern.length) : value;
          expect(lex.processWord(`\${V${op}${pattern}}`, env)).toBe(expected);
        }
        for (const op of ['%', '%%']) {
          const expected = value.endsWith(pattern) ? value.slice(0, value.length - pattern.length) : value;
          expect(lex.processWord(`\${V${op}${pattern}}`, env)).toBe(expected);
        }
        expect(lex.processWord(`\${V//${pattern}/${replacement}}`, env)).toBe(value.split(pattern).join(replacement));
        expect(lex.processWord(`\${V/${pattern}/${replacement}}`, env)).toBe(value.replace(pattern, () => replacement));
      }),
    );
  });
});

/**
 * The pattern matcher must pick the match a backtracking regex engine picks
 * (BuildKit uses Go's leftmost-first RE2). JavaScript's RegExp has the same
 * leftmost-first preference, so on small inputs it is an independent oracle.
 */
describe('pattern matching agrees with a leftmost-first regex', () => {
  const patternChar = fc.constantFrom('a', 'b', '*', '?', '\\*', '\\?', '\\\\', '.', '\n', 'é');
  const pattern = fc.array(patternChar, { maxLength: 6 }).map((parts) => parts.join(''));
  const value = fc.array(fc.constantFrom('a', 'b', '*', '?', '\\', '.', '\n', 'é'), { maxLength: 10 }).map((p) => p.join(''));

  function toRegex(p: string, greedy: boolean, anchored: boolean): RegExp {
    let source = anchored ? '^' : '';
    const chars = [...p];
    for (let i = 0; i < chars.length; i++) {
      const ch = chars[i]!;
      if (ch === '*') source += greedy ? '[^\\n]*' : '[^\\n]*?';
      else if (ch === '?') source += '[^\\n]';
      else if (ch === '\\') source += '\\' + chars[++i]!;
      else source += ch.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');
    }
    return new RegExp(source, 'u');
  }
  function reverse(s: string): string {
    return [...s].reverse().join('');
  }
  function reversePatternRef(p: string): string {
    const tokens: string[] = [];
    const chars = [...p];
    for (let i = 0; i < chars.length; i++) tokens.push(chars[i] === '\\' && i + 1 < chars.length ? chars[i]! + chars[++i]! : chars[i]!);
    return tokens.reverse().join('');
  }

  it('for prefixes, suffixes and first-match replacement', () => {
    fc.assert(
      fc.property(pattern, value, fc.boolean(), (p, v, greedy) => {
        const prefix = toRegex(p, greedy, true).exec(v);
        expect(trimPrefix(p, v, greedy)).toBe(prefix ? v.slice(prefix[0].length) : v);

        const rv = reverse(v);
        const suffix = toRegex(reversePatternRef(p), greedy, true).exec(rv);
        expect(trimSuffix(p, v, greedy)).toBe(suffix ? reverse(rv.slice(suffix[0].length)) : v);

        const first = toRegex(p, true, false).exec(v);
        const replaced = first ? v.slice(0, first.index) + '<>' + v.slice(first.index + first[0].length) : v;
        expect(replacePattern(p, v, '<>', false)).toBe(replaced);
      }),
      { numRuns: 2000 },
    );
  });

  it('matches a pattern that is exponential for backtracking engines', () => {
    // `*a*a*a*a*a*a*b` against 5000 a's would not finish with a backtracking
    // engine; the table-driven matcher does about 70k steps.
    const value = 'a'.repeat(5000);
    expect(trimPrefix('*a*a*a*a*a*a*b', value, true)).toBe(value);
    expect(replacePattern('*a*a*a*a*a*a*b', value, 'x', true)).toBe(value);
  });
});
