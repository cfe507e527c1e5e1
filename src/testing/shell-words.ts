/**
 * fast-check arbitraries for shell words as Dockerfile instructions expand
 * them (`$VAR`, `${VAR:-x}`, quotes, escapes), and environments to expand
 * them in.
 * @module
 */
import fc from 'fast-check';
import { chars, pick } from './dockerfile-parts.js';

/**
 * Variable names: plain, digit-led (`$1`), Unicode letters and digits. Only
 * characters Unicode 13 already had: BuildKit's notion of a letter follows
 * the Unicode tables of the Go release that built it.
 */
const VAR_NAMES = ['A', 'B', 'FOO', '_x', 'a1', 'HOME', 'EMPTY', 'UNSET', 'é', 'Ωmega', '٣', 'x٣'];
const SPECIAL_PARAMS = ['@', '*', '#', '?', '-', '$', '!', '0', '1', '12'];

/**
 * Options of {@link shellWordArbitrary}.
 * @example
 * ```ts
 * // No syntax errors, nesting at most one level deep.
 * shellWordArbitrary({ malformed: false, maxDepth: 1 });
 * ```
 */
export interface ShellWordArbitraryOptions {
  /**
   * Also generate words with syntax errors (unterminated quotes, `${}`,
   * unsupported modifiers, a missing `}`). Default `true`. Even without them
   * some words fail, as in BuildKit: `${X?}` of an unset `X`, an escape other
   * than `\*` `\?` `\\` inside a `#`, `%` or `/` pattern.
   */
  malformed?: boolean;
  /** Nesting depth of `${…}` words inside `${…}` words. Default 2. */
  maxDepth?: number;
}

/**
 * A word for BuildKit's shell lexer (`ProcessWord`/`ProcessWords`, escape `\`):
 * literals, escapes, single and double quotes, `$name`, `$1`, `$@`, and
 * `${name}` with every operator (`:-` `-` `:+` `+` `:?` `?` `#` `##` `%`
 * `%%` `/` `//`), patterns with `*`, `?` and escapes, nesting, `<<`, Unicode
 * letters and whitespace.
 *
 * @example
 * ```ts
 * fc.assert(fc.property(shellWordArbitrary(), shellEnvArbitrary(), (word, env) => {
 *   // expand `word` in `env` with your lexer and compare with a reference
 * }));
 * ```
 */
export function shellWordArbitrary(options: ShellWordArbitraryOptions = {}): fc.Arbitrary<string> {
  const malformed = options.malformed ?? true;
  const maxDepth = options.maxDepth ?? 2;
  const literal = fc.oneof(
    pick('a', 'foo', 'x.y', '/usr/bin', ' ', '  ', '\t', '-', ':', '=', '*', '?', '#', '%', '/', '}', '{', '~', '@', '!', ',', '<', '<<', '<< ', '<<\t'),
    pick('é', '한국어', '😀', '\u00a0', '\u0085', '\u2028', '\u3000', '\ufeff', '\u200b', '\r', '\v'),
    chars('abcxyz ', 1, 4),
  );
  const escape = pick('\\ ', '\\$', '\\"', "\\'", '\\\\', '\\n', '\\a', '\\{', '\\}', '\\*', '\\/', '\\é');
  const simpleVar = fc.oneof(pick(...VAR_NAMES), pick(...SPECIAL_PARAMS)).map((n) => `$${n}`);
  const broken = pick('$', '$ ', '${', '${}', '${:', '${:-x}', '${A', '${A:-x', '${{A}}', '${A!}', '${A:#x}', '${A:%x}', '${A^}', '${A/x', '"open', "'open", '\\');
  const pattern = fc
    .array(pick('*', '?', 'a', 'b', '.', 'x*', '*.gz', '\\*', '\\?', '\\}', '\\/', '\\\\', '[', '(', '+', '^', '$B', 'é'), { maxLength: 3 })
    .map((p) => p.join(''));
  return fc.letrec<{ word: string; part: string; braced: string; dquoted: string }>((tie) => ({
    word: fc.array(tie('part'), { maxLength: 5 }).map((ps) => ps.join('')),
    part: fc.oneof(
      { depthSize: 'small', maxDepth },
      { weight: 4, arbitrary: literal },
      { weight: 2, arbitrary: escape },
      { weight: 2, arbitrary: simpleVar },
      { weight: 3, arbitrary: tie('braced') },
      { weight: 2, arbitrary: tie('dquoted') },
      { weight: 1, arbitrary: chars("abc $\"\\", 0, 4).map((t) => `'${t}'`) },
      { weight: malformed ? 1 : 0, arbitrary: broken },
    ),
    braced: fc.oneof(
      { depthSize: 'small', maxDepth },
      fc.oneof(pick(...VAR_NAMES), pick(...SPECIAL_PARAMS)).map((n) => `\${${n}}`),
      fc
        .tuple(pick(...VAR_NAMES), pick(':-', '-', ':+', '+', ':?', '?', '#', '##', '%', '%%'), fc.oneof(pattern, tie('word')))
        .map(([n, op, w]) => `\${${n}${op}${w}}`),
      fc.tuple(pick(...VAR_NAMES), pick('/', '//'), pattern, fc.oneof(pattern, tie('word'))).map(([n, op, p, r]) => `\${${n}${op}${p}/${r}}`),
    ),
    dquoted: fc
      .array(fc.oneof(literal.filter((l) => !l.includes('"')), escape, simpleVar, tie('braced'), pick("'", '\\`', '`')), { maxLength: 4 })
      .map((ps) => `"${ps.join('')}"`),
  })).word;
}

/**
 * An environment for {@link shellWordArbitrary}: `NAME=value` entries (a bare
 * `NAME` is set and empty; a later entry wins) over the same names the words
 * use, with values that have spaces, globs, quotes and Unicode whitespace.
 *
 * @example
 * ```ts
 * fc.sample(shellEnvArbitrary(), 1); // e.g. [['A=a b', 'HOME=/root', 'EMPTY']]
 * ```
 */
export function shellEnvArbitrary(): fc.Arbitrary<string[]> {
  const value = pick('', 'x', 'a b', '  lead', 'trail  ', 'a*b', '/usr/local/bin', 'foo.tar.gz', 'a\tb', '"q"', "'s'", '$B', '\\', 'é ü', '\u00a0x\u00a0', 'x\u0085y', 'aaa', 'abcabc', 'a=b', '}', '/');
  const entry = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(pick(...VAR_NAMES.filter((n) => n !== 'UNSET')), value).map(([n, v]) => `${n}=${v}`) },
    { weight: 1, arbitrary: pick('EMPTY', 'A') },
  );
  return fc.array(entry, { maxLength: 6 });
}
