/**
 * Letters, digits and printable characters as BuildKit's Go sees them (Go
 * 1.19, Unicode 13.0.0), whatever Unicode version the running Node knows.
 * The oracle (BuildKit's own lexer, ./oracle.ts) judges every code point
 * where a table of src/dockerfile/unicode.ts changes value and every code
 * point where this Node's `\p{…}` classes disagree with those tables.
 * `LAYERKIT_UNICODE_EXHAUSTIVE=1` checks all 1,112,064 scalar values.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ShellExpansionError, ShellLex } from '../../src/dockerfile/shell/index.js';
import { GO_UNICODE_VERSION, isGoDigit, isGoLetter, isGoPrint } from '../../src/dockerfile/unicode.js';
import { openOracle, type WordAnswer } from './oracle.js';

const oracle = openOracle();
afterAll(() => oracle?.close());

const MAX = 0x10ffff;
const isSurrogate = (c: number) => c >= 0xd800 && c <= 0xdfff;
const lex = new ShellLex();

describe('Go’s character classes at Unicode 13.0.0', () => {
  it('names the version of its tables', () => {
    expect(GO_UNICODE_VERSION).toBe('13.0.0');
  });

  it('knows letters, digits and printables of Unicode 13, and nothing newer', () => {
    expect([0x41, 0x7a, 0xaa, 0xb5, 0xba, 0x4e00, 0x10400, 0x3134a].map(isGoLetter)).toEqual(Array(8).fill(true));
    // U+0870 ARABIC LETTER ALEF WITH ATTACHED FATHA and U+31350 (CJK Ext. H) came with Unicode 14 and 15.
    expect([0x30, 0x5f, 0xd7, 0x870, 0x31350, 0x2b73a].map(isGoLetter)).toEqual(Array(6).fill(false));
    expect([0x30, 0x39, 0x660, 0xff19, 0x1e959].map(isGoDigit)).toEqual(Array(5).fill(true));
    expect([0x2f, 0x3a, 0xb2, 0x2160, 0x16ac0].map(isGoDigit)).toEqual(Array(5).fill(false)); // ² Ⅰ (No, Nl); U+16AC0 is Unicode 14
    expect([0x20, 0x7e, 0xa1, 0xff, 0x1f600].map(isGoPrint)).toEqual(Array(5).fill(true));
    expect([0x1f, 0x7f, 0xa0, 0xad, 0x2028, 0xe000, 0x1fae0, 0x32def, -1, MAX + 1].map(isGoPrint)).toEqual(Array(10).fill(false));
  });

  it('ends a variable name at a letter newer than Unicode 13, as BuildKit does', () => {
    // BuildKit (Go 1.19) answers "1ࡰ": the name is X, U+0870 is text.
    expect(lex.processWord('$X\u0870', ['X=1'])).toBe('1\u0870');
    expect(() => lex.processWord('${X\u0870}', ['X=1'])).toThrow('unsupported modifier (\u0870) in substitution');
    expect(lex.processWords('$X\u0870 y', ['X=1'])).toEqual(['1\u0870', 'y']);
  });

  it('quotes characters newer than Unicode 13 in messages, as strconv.Quote does', () => {
    expect(() => lex.processWord("'\u{1fae0}", [])).toThrow(`failed to process "'\\U0001fae0": `);
    expect(() => lex.processWord("'\u0870", [])).toThrow(`failed to process "'\\u0870": `);
  });
});

/** The code points worth asking about: each edge of each table, and where this Node's classes disagree. */
function interestingCodePoints(): number[] {
  const points = new Set<number>();
  const jsLetter = /^\p{L}$/u;
  const jsDigit = /^\p{Nd}$/u;
  const jsPrint = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
  let previous = [false, false, false];
  for (let c = 0; c <= MAX; c++) {
    if (isSurrogate(c)) continue;
    const now = [isGoLetter(c), isGoDigit(c), isGoPrint(c)];
    if (now.some((v, i) => v !== previous[i])) {
      points.add(c);
      if (c > 0 && !isSurrogate(c - 1)) points.add(c - 1);
    }
    previous = now;
    const ch = String.fromCodePoint(c);
    if (jsLetter.test(ch) !== now[0] || jsDigit.test(ch) !== now[1] || jsPrint.test(ch) !== now[2]) points.add(c);
  }
  return [...points].sort((a, b) => a - b);
}

function allScalarValues(): number[] {
  const out: number[] = [];
  for (let c = 0; c <= MAX; c++) if (!isSurrogate(c)) out.push(c);
  return out;
}

/** layerkit's answer in the oracle's shape. */
function layerkitWord(word: string, env: string[]): WordAnswer {
  try {
    return { ok: true, word: lex.processWord(word, env) };
  } catch (err) {
    if (!(err instanceof ShellExpansionError)) throw err;
    return { ok: false, error: err.message };
  }
}

/**
 * Three questions per code point c: does `$X<c>` read c into the name (Go's
 * IsLetter, IsDigit), does `$1<c>` continue the digit run (IsDigit), and how
 * does the message about the unterminated `'<c>` quote it (strconv.IsPrint)?
 */
const questions = (c: number): Array<[word: string, env: string[]]> => {
  const ch = String.fromCodePoint(c);
  return [
    [`$X${ch}`, ['X=1']],
    [`$1${ch}`, []],
    [`'${ch}`, []],
  ];
};

describe.runIf(oracle)('BuildKit agrees, code point by code point', () => {
  const exhaustive = process.env.LAYERKIT_UNICODE_EXHAUSTIVE === '1';
  const points = exhaustive ? allScalarValues() : interestingCodePoints();

  it(`${exhaustive ? 'every scalar value' : 'table edges and Node disagreements'} (${points.length} code points)`, { timeout: exhaustive ? 1_800_000 : 120_000 }, async () => {
    const CHUNK = 20_000;
    const mismatches: string[] = [];
    for (let i = 0; i < points.length && mismatches.length < 10; i += CHUNK) {
      const cases = points.slice(i, i + CHUNK).flatMap(questions);
      const answers = await Promise.all(cases.map(([word, env]) => oracle!.word(word, env)));
      cases.forEach(([word, env], j) => {
        const expected = answers[j]!;
        const actual = layerkitWord(word, env);
        // A rejected word is compared on its whole message: that is where the quoting shows.
        if (JSON.stringify(actual) !== JSON.stringify(expected)) {
          mismatches.push(`${JSON.stringify(word)} ${JSON.stringify(env)}: BuildKit ${JSON.stringify(expected)}, layerkit ${JSON.stringify(actual)}`);
        }
      });
    }
    expect(mismatches).toEqual([]);
  });
});
