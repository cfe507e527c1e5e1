/**
 * Letters, digits and printable characters as BuildKit's Go sees them (Go
 * 1.19, Unicode 13.0.0), whatever Unicode version the running Node knows.
 * The oracle (BuildKit's own lexer, ./oracle.ts) judges every code point
 * where a table of src/dockerfile/unicode.ts changes value and every code
 * point where this Node's `\p{…}` classes disagree with those tables.
 * Lower-case mapping is checked the same way, through the keyword BuildKit's
 * parser lowers. `LAYERKIT_UNICODE_EXHAUSTIVE=1` checks all 1,112,064 scalar
 * values.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ShellExpansionError, ShellLex } from '../../src/dockerfile/shell/index.js';
import {
  GO_UNICODE_VERSION,
  goToLower,
  goToLowerRune,
  goToUpper,
  goToUpperRune,
  isGoDigit,
  isGoLetter,
  isGoPrint,
} from '../../src/dockerfile/unicode.js';
import { openOracle, type ParseAnswer, type WordAnswer } from './oracle.js';

const oracle = openOracle();
afterAll(() => oracle?.close());

const MAX = 0x10ffff;
const isSurrogate = (c: number) => c >= 0xd800 && c <= 0xdfff;
const lex = new ShellLex();
/** Oracle requests in flight at once: its client keeps them in a queue. */
const CHUNK = 20_000;

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

describe('Go’s case mapping at Unicode 13.0.0', () => {
  it('maps one code point to one, with Go’s simple mappings', () => {
    expect(goToLower('COPY --From')).toBe('copy --from');
    expect(goToLower('İSTANBUL ΣΑΣ')).toBe('istanbul σασ'); // İ → i (JavaScript: i + U+0307); no final-sigma rule
    expect(goToUpper('straße ǆ')).toBe('STRAßE Ǆ'); // ß has no single-letter upper case
    expect(goToUpperRune(0x1f80)).toBe(0x1f88); // ᾀ → ᾈ (JavaScript's toUpperCase gives two characters)
    expect(goToUpperRune(0x1e9e)).toBe(0x1e9e);
    expect(goToLowerRune(0x1e9e)).toBe(0xdf); // ẞ → ß
    expect([0x100, 0x101, 0x102].map(goToUpperRune)).toEqual([0x100, 0x100, 0x102]); // alternating pairs
  });

  it('leaves alone what became cased after Unicode 13', () => {
    expect(goToLowerRune(0x10589)).toBe(0x10589); // VITHKUQI CAPITAL LETTER (Unicode 14)
    expect(goToUpperRune(0x19b)).toBe(0x19b); // ƛ gained an upper case (U+A7DC) in Unicode 16
    expect(goToLowerRune(0x1c89)).toBe(0x1c89); // CYRILLIC CAPITAL LETTER TJE (Unicode 16)
  });

  it('writes U+FFFD for a lone surrogate, as Go rewrites an invalid byte', () => {
    expect(goToLower('A\udc85B')).toBe('a\ufffdb');
    expect(goToUpper('\ud800')).toBe('\ufffd');
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

/** The code points where Go's lower-case mapping changes its delta, and where this Node's `toLowerCase` disagrees. */
function interestingCasePoints(): number[] {
  const points = new Set<number>();
  let previousDelta = 0;
  for (let c = 0x80; c <= MAX; c++) {
    if (isSurrogate(c)) continue;
    const delta = goToLowerRune(c) - c;
    if (delta !== previousDelta) {
      points.add(c);
      if (!isSurrogate(c - 1)) points.add(c - 1);
    }
    previousDelta = delta;
    const js = [...String.fromCodePoint(c).toLowerCase()];
    if (js.length !== 1 || js[0]!.codePointAt(0) !== goToLowerRune(c)) points.add(c);
  }
  return [...points].sort((a, b) => a - b);
}

describe.runIf(oracle)('BuildKit lowers keywords as Go 1.19 does', () => {
  const exhaustive = process.env.LAYERKIT_UNICODE_EXHAUSTIVE === '1';
  const points = exhaustive ? allScalarValues().filter((c) => c >= 0x80) : interestingCasePoints();

  it(`${exhaustive ? 'every non-ASCII scalar value' : 'case table edges and Node disagreements'} (${points.length} code points)`, { timeout: exhaustive ? 1_800_000 : 120_000 }, async () => {
    // BuildKit's parser lowers the keyword with strings.ToLower and dumps it as it is: `(xé "")`.
    const answers: ParseAnswer[] = [];
    for (let i = 0; i < points.length; i += CHUNK) {
      answers.push(...(await oracle!.parseMany(points.slice(i, i + CHUNK).map((c) => `X${String.fromCodePoint(c)} a\n`))));
    }
    const mismatches: string[] = [];
    let compared = 0;
    points.forEach((c, i) => {
      const answer = answers[i]!;
      if (!answer.ok) return;
      compared++;
      const lowered = [...answer.dump][2];
      const expected = String.fromCodePoint(goToLowerRune(c));
      if (lowered !== expected && mismatches.length < 10) {
        mismatches.push(`U+${c.toString(16)}: BuildKit ${JSON.stringify(answer.dump)}, layerkit ${JSON.stringify(expected)}`);
      }
    });
    expect(mismatches).toEqual([]);
    expect(compared).toBeGreaterThan(points.length * 0.99);
  });
});

describe.runIf(oracle)('BuildKit agrees, code point by code point', () => {
  const exhaustive = process.env.LAYERKIT_UNICODE_EXHAUSTIVE === '1';
  const points = exhaustive ? allScalarValues() : interestingCodePoints();

  it(`${exhaustive ? 'every scalar value' : 'table edges and Node disagreements'} (${points.length} code points)`, { timeout: exhaustive ? 1_800_000 : 120_000 }, async () => {
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
