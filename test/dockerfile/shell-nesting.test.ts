/**
 * Deeply nested words. BuildKit's lexer recurses on a goroutine stack that
 * grows to 1 GB, so it expands `${A:-${A:-…}}` 100,000 levels deep; layerkit
 * keeps the nesting on a stack of its own and must agree at any depth,
 * failures included, and in time linear in the word.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ShellExpansionError, ShellLex } from '../../src/dockerfile/shell/index.js';
import { openOracle } from './oracle.js';

const oracle = openOracle();
afterAll(() => oracle?.close());

const nested = (n: number, open: string, inner: string, close: string) => open.repeat(n) + inner + close.repeat(n);
const deepDefault = (n: number) => nested(n, '${A:-', 'x', '}');

function failure(fn: () => unknown): ShellExpansionError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ShellExpansionError) return err;
    throw err;
  }
  throw new Error('expansion succeeded');
}

describe('nesting depth', () => {
  const lex = new ShellLex();

  it('expands a 5000-deep ${A:-…} (the differential reproducer) and a 100,000-deep one', () => {
    expect(lex.processWord(deepDefault(5000), [])).toBe('x');
    expect(lex.processWords(deepDefault(5000), [])).toEqual(['x']);
    expect(lex.processWord(deepDefault(100_000), [])).toBe('x');
    expect(lex.processWord(nested(20_000, '${A:+', 'x', '}'), ['A=1'])).toBe('x');
  });

  it('nests quotes and substitutions in each other at any depth', () => {
    expect(lex.processWord(nested(20_000, '${A:-"', 'x y', '"}'), [])).toBe('x y');
    expect(lex.processWords(nested(20_000, '"${A:-', 'x y', '}"'), [])).toEqual(['x y']);
  });

  it('reports a missing brace at the outermost ${, however deep the input ends', () => {
    const err = failure(() => lex.processWord('${A:-'.repeat(20_000) + 'x', []));
    expect(err.data).toMatchObject({ reason: 'missing-brace', offset: 0, detail: "syntax error: missing '}'" });
    const slash = failure(() => lex.processWord('${A/'.repeat(20_000), []));
    expect(slash.data).toMatchObject({ reason: 'missing-slash', offset: 0 });
  });

  it('reports a failure deep inside where it happened when the input goes on', () => {
    const err = failure(() => lex.processWord(nested(20_000, '${A:-', '${B?boom}', '}'), []));
    expect(err.data).toMatchObject({ reason: 'unset-variable', variable: 'B', offset: 100_000, detail: 'B: boom' });
  });

  it('keeps a deep word as written, in linear time, when variables are left unset', () => {
    // What the parser's heredoc detection asks: quotes and escapes raw, unset variables kept.
    // A quadratic lexer needs ~10^9 steps here; a linear one, milliseconds.
    const raw = new ShellLex({ rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
    const word = deepDefault(20_000);
    expect(raw.processWords(`${word} <<EOF`, [])).toEqual([word, '<<EOF']);
    expect(raw.processWord(word, [])).toBe(word);
  });
});

type Answer = { ok: true; value: unknown } | { ok: false; detail: string };

function layerkit(fn: () => unknown): Answer {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (!(err instanceof ShellExpansionError)) throw err;
    return { ok: false, detail: err.data.detail };
  }
}

describe.runIf(oracle)('deep words: BuildKit agrees', () => {
  const n = 2000;
  const cases: Array<[what: string, word: string, env: string[]]> = [
    ['${A:-…} closed', deepDefault(n), []],
    ['${A:+…} with A set', nested(n, '${A:+', 'x', '}'), ['A=1']],
    ['${A:-…} never closed', '${A:-'.repeat(n) + 'x', []],
    ['${A:-"…"} closed', nested(n, '${A:-"', 'x', '"}'), []],
    ['a failing ${B?} deep inside', nested(n, '${A:-', '${B?boom}', '}'), []],
    ['a failing ${B?} deep inside, never closed', '${A:-'.repeat(n) + '${B?boom}', []],
    ['${A/… never closed', '${A/'.repeat(n), []],
    ['${A#…} patterns inside patterns', nested(n, '${A#', '*', '}'), ['A=abc']],
    ['words before each level are dropped', nested(n, 'a b${A:-', 'c d', '}'), []],
  ];

  it.each(cases)('%s', async (_what, word, env) => {
    const lex = new ShellLex();
    const [one, many] = await Promise.all([oracle!.word(word, env), oracle!.words(word, env)]);
    const check = (actual: Answer, expected: { ok: boolean; error?: string }, value: unknown) => {
      if (expected.ok) expect(actual).toEqual({ ok: true, value });
      else {
        expect(actual.ok, expected.error).toBe(false);
        if (!actual.ok) expect(expected.error!.endsWith(`: ${actual.detail}`)).toBe(true);
      }
    };
    check(layerkit(() => lex.processWord(word, env)), one, one.ok ? one.word : undefined);
    check(layerkit(() => lex.processWords(word, env)), many, many.ok ? (many.words ?? []) : undefined);
  });
});
