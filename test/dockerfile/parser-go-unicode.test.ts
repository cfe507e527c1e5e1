/**
 * The Go Unicode tables the parser uses (src/dockerfile/unicode.ts) against
 * the reference itself, through the parser's own outputs: what BuildKit's
 * dump quotes, and which characters its lexer takes into a variable name
 * (the heredoc delimiter lexer reads `$name` with them). Range edges and a
 * sample by default; every code point with LAYERKIT_GO_UNICODE_FULL=1 (a few
 * minutes).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { dumpAst, parseDockerfile } from '../../src/dockerfile/index.js';
import { isGoDigit as goIsDigit, isGoLetter as goIsLetter, isGoPrint as goIsPrint } from '../../src/dockerfile/unicode.js';
import { openOracle } from './oracle.js';

const oracle = openOracle();
afterAll(() => oracle?.close());

const FULL = process.env.LAYERKIT_GO_UNICODE_FULL === '1';

const isScalar = (cp: number) => cp >= 0x80 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);

/** Code points to check: every edge where one of the answers changes, and a spread sample. */
function codePoints(): number[] {
  if (FULL) return Array.from({ length: 0x110000 - 0x80 }, (_, i) => i + 0x80).filter(isScalar);
  const points = new Set<number>();
  let previous = [false, false, false];
  for (let cp = 0x80; cp < 0x110000; cp++) {
    if (!isScalar(cp)) continue;
    const now = [goIsPrint(cp), goIsLetter(cp), goIsDigit(cp)];
    if (now.some((v, i) => v !== previous[i])) for (const p of [cp - 1, cp]) if (isScalar(p)) points.add(p);
    previous = now;
  }
  for (let cp = 0x80; cp < 0x110000; cp += 97) if (isScalar(cp)) points.add(cp);
  return [...points].sort((a, b) => a - b);
}

describe.runIf(oracle)('Go Unicode tables agree with BuildKit', () => {
  const points = codePoints();

  it('strconv.IsPrint: the dump quotes exactly the non-printable characters', { timeout: 600_000 }, async () => {
    const chunks: number[][] = [];
    for (let i = 0; i < points.length; i += 2000) chunks.push(points.slice(i, i + 2000));
    const texts = chunks.map((chunk) => chunk.map((cp) => `RUN a${String.fromCodePoint(cp)}b`).join('\n'));
    const answers = await oracle!.parseMany(texts);
    const mismatches: string[] = [];
    answers.forEach((answer, i) => {
      expect(answer.ok).toBe(true);
      if (!answer.ok) return;
      const lines = answer.dump.split('\n');
      chunks[i]!.forEach((cp, j) => {
        const printable = lines[j] === `(run "a${String.fromCodePoint(cp)}b")`;
        if (printable !== goIsPrint(cp)) mismatches.push(cp.toString(16));
      });
      // Our dump of the same text is the reference's.
      expect(dumpAst(parseDockerfile(texts[i]!))).toBe(answer.dump);
    });
    expect(mismatches).toEqual([]);
  });

  it('unicode.IsLetter and IsDigit: what a variable name is made of', { timeout: 600_000 }, async () => {
    // `$<c>X` with `<c>=D` and `<c>X=L` set: a letter gives L, a digit DX, anything else the text itself.
    const answers = await Promise.all(
      points.map((cp) => {
        const c = String.fromCodePoint(cp);
        return oracle!.word(`$${c}X`, [`${c}=D`, `${c}X=L`]);
      }),
    );
    const mismatches: string[] = [];
    answers.forEach((answer, i) => {
      const cp = points[i]!;
      const word = answer.ok ? answer.word : undefined;
      if ((word === 'L') !== goIsLetter(cp) || (word === 'DX') !== goIsDigit(cp)) mismatches.push(cp.toString(16));
    });
    expect(mismatches).toEqual([]);
  });
});
