/**
 * Differential tests against BuildKit itself: generated Dockerfiles go to
 * both layerkit's parser and BuildKit's (`bkoracle`, see ./oracle.ts), and
 * generated shell words to both word expanders; the answers must agree.
 *
 * - Parsing: accept/reject, the dump, each instruction's line range, heredoc
 *   bodies (name, content, expand, chomp) and the warnings; when both reject,
 *   the line, if BuildKit gives one.
 * - Printing: what `printDockerfile` writes, BuildKit reads as it read the
 *   source (same dump, same heredocs).
 * - Words: `ProcessWord` and `ProcessWords` give the same word / word list,
 *   or both fail (and layerkit's message is BuildKit's).
 *
 * Every property runs twice: with a fixed seed (a stable regression net) and
 * with a random one (`LAYERKIT_FUZZ_SEED` to choose it). A longer random run:
 * `LAYERKIT_FUZZ_RUNS=100000 npx vitest run test/dockerfile/differential.test.ts`.
 * A failure prints the seed and the shrunk counterexample.
 *
 * Cases are generated up front, sent to the oracle in one batch, then
 * compared; only when something disagrees does fast-check replay the same
 * seed (answers cached) to shrink, asking the oracle about each candidate.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerfileSyntaxError, dumpAst, parseDockerfile, printDockerfile } from '../../src/dockerfile/index.js';
import { ShellExpansionError, ShellLex } from '../../src/dockerfile/shell/index.js';
import { dockerfileArbitrary, shellEnvArbitrary, shellWordArbitrary, type DockerfileArbitraryOptions } from '../../src/testing/dockerfile.js';
import { openOracle, type OracleHeredoc, type ParseAnswer, type WordAnswer, type WordsAnswer } from './oracle.js';

const oracle = openOracle();
afterAll(() => oracle?.close());

const FIXED_SEED = 0x1a7e4;
const RANDOM_SEED = Number(process.env.LAYERKIT_FUZZ_SEED) || (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
const LONG_RUNS = Number(process.env.LAYERKIT_FUZZ_RUNS) || 0;
/** Oracle requests per write. */
const CHUNK = 2000;

// ---------------------------------------------------------------- comparison

/** What both parsers are compared on. */
interface ParseView {
  accepted: boolean;
  dump?: string;
  nodes?: { start: number; end: number; heredocs: OracleHeredoc[] }[];
  warnings?: string[];
  line?: number;
}

function buildkitView(answer: ParseAnswer): ParseView {
  if (!answer.ok) return answer.line === undefined ? { accepted: false } : { accepted: false, line: answer.line };
  return {
    accepted: true,
    dump: answer.dump,
    nodes: (answer.nodes ?? []).map((n) => ({ start: n.start, end: n.end, heredocs: n.heredocs ?? [] })),
    warnings: answer.warnings ?? [],
  };
}

/** layerkit's answer in the same shape; only a DockerfileSyntaxError counts as a rejection. */
function layerkitView(text: string, withLine: boolean): ParseView {
  let ast;
  try {
    ast = parseDockerfile(text, { strict: false });
  } catch (err) {
    if (!(err instanceof DockerfileSyntaxError)) throw err;
    return withLine ? { accepted: false, line: err.line } : { accepted: false };
  }
  return {
    accepted: true,
    dump: dumpAst(ast),
    nodes: ast.children.map((node) => ({
      start: node.startLine,
      end: node.endLine,
      heredocs: node.heredocs.map(({ name, content, expand, chomp }) => ({ name, content, expand, chomp })),
    })),
    warnings: ast.warnings.map((w) => w.short),
  };
}

function checkParse(text: string, answer: ParseAnswer, { mustAccept = false } = {}): void {
  const expected = buildkitView(answer);
  if (mustAccept && !expected.accepted) throw new Error(`the generator made a Dockerfile BuildKit rejects: ${JSON.stringify(answer)}`);
  expect(layerkitView(text, expected.line !== undefined)).toEqual(expected);
}

type WordCase = readonly [word: string, env: string[]];
type WordAnswers = readonly [WordAnswer, WordsAnswer];

/** Runs `fn`; a ShellExpansionError is an answer, anything else a crash. */
function expansion<T>(fn: () => T): { ok: true; value: T } | { ok: false; detail: string } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (!(err instanceof ShellExpansionError)) throw err;
    return { ok: false, detail: err.data.detail };
  }
}

function checkExpansion<T>(actual: { ok: true; value: T } | { ok: false; detail: string }, answer: { ok: boolean; error?: string }, value: T | undefined) {
  if (answer.ok) {
    expect(actual).toEqual({ ok: true, value });
  } else {
    expect(actual.ok, `BuildKit fails: ${answer.error}`).toBe(false);
    // BuildKit's message is `failed to process "<word>": <detail>`.
    if (!actual.ok) expect(answer.error!.endsWith(`: ${actual.detail}`), `${answer.error} vs ${actual.detail}`).toBe(true);
  }
}

function checkWord([word, env]: WordCase, [one, many]: WordAnswers): void {
  const lex = new ShellLex();
  checkExpansion(expansion(() => lex.processWord(word, env)), one, one.ok ? one.word : undefined);
  checkExpansion(expansion(() => lex.processWords(word, env)), many, many.ok ? (many.words ?? []) : undefined);
}

async function askParse(texts: readonly string[]): Promise<ParseAnswer[]> {
  return oracle!.parseMany(texts);
}

async function askWords(cases: readonly WordCase[]): Promise<WordAnswers[]> {
  return Promise.all(cases.map(async ([w, env]) => [await oracle!.word(w, env), await oracle!.words(w, env)] as const)).then((all) =>
    all.map(([one, many]) => [one, many.ok ? { ...many, words: many.words ?? [] } : many] as const),
  );
}

// ---------------------------------------------------------------- the runner

/**
 * Checks `numRuns` values of `arbitrary` (from `seed`) against the oracle in
 * batches. On a disagreement fast-check replays the same seed, shrinks and
 * throws with the seed, the path and the minimal counterexample.
 */
async function agreeWithOracle<T, A>(options: {
  arbitrary: fc.Arbitrary<T>;
  seed: number;
  numRuns: number;
  ask: (values: readonly T[]) => Promise<A[]>;
  check: (value: T, answer: A) => void;
}): Promise<void> {
  const { arbitrary, seed, numRuns, ask, check } = options;
  const key = (v: T) => JSON.stringify(v);
  const values = fc.sample(arbitrary, { seed, numRuns });
  const answers = new Map<string, A>();
  for (let i = 0; i < values.length; i += CHUNK) {
    const part = values.slice(i, i + CHUNK);
    const got = await ask(part);
    part.forEach((v, j) => answers.set(key(v), got[j]!));
  }
  const failing = values.find((v) => {
    try {
      check(v, answers.get(key(v))!);
      return false;
    } catch {
      return true;
    }
  });
  if (failing === undefined) return;
  await fc.assert(
    fc.asyncProperty(arbitrary, async (v) => check(v, answers.get(key(v)) ?? (await ask([v]))[0]!)),
    { seed, numRuns },
  );
  throw new Error(`seed ${seed}: a disagreement that fast-check did not replay; the case: ${key(failing)}`);
}

const runs = (short: number, seeded: 'fixed' | 'random') => (seeded === 'random' && LONG_RUNS ? LONG_RUNS : short);
const timeout = (n: number) => 60_000 + n * 20;

// ---------------------------------------------------------------- properties

const PARSE_VARIANTS: Array<[name: string, options: DockerfileArbitraryOptions, short: number]> = [
  ['ASCII Dockerfiles', { unicode: false }, 250],
  ['Dockerfiles with Unicode', {}, 250],
  ['ASCII Dockerfiles BuildKit may reject', { malformed: true, unicode: false }, 250],
  ['Dockerfiles with Unicode BuildKit may reject', { malformed: true }, 150],
];

describe.runIf(oracle)('parseDockerfile agrees with BuildKit', () => {
  for (const [name, options, short] of PARSE_VARIANTS) {
    for (const seeded of ['fixed', 'random'] as const) {
      const numRuns = runs(short, seeded);
      it(`${name} (${seeded} seed)`, { timeout: timeout(numRuns) }, async () => {
        await agreeWithOracle({
          arbitrary: dockerfileArbitrary(options),
          seed: seeded === 'fixed' ? FIXED_SEED : RANDOM_SEED,
          numRuns,
          ask: askParse,
          check: (text, answer) => checkParse(text, answer, { mustAccept: !options.malformed }),
        });
      });
    }
  }
});

/** Parses with layerkit and prints; undefined when layerkit rejects the text. */
function reprint(text: string): string | undefined {
  try {
    return printDockerfile(parseDockerfile(text, { strict: false }));
  } catch (err) {
    if (err instanceof DockerfileSyntaxError) return undefined;
    throw err;
  }
}

/** What printing keeps, as BuildKit sees it: the dump and the heredocs (lines move). */
function printedEssence(answer: ParseAnswer) {
  const view = buildkitView(answer);
  return { accepted: view.accepted, dump: view.dump, heredocs: view.nodes?.map((n) => n.heredocs) };
}

describe.runIf(oracle)('BuildKit reads printDockerfile output as it read the source', () => {
  for (const [name, options] of [['ASCII', { unicode: false }], ['Unicode', {}]] as const) {
    for (const seeded of ['fixed', 'random'] as const) {
      const numRuns = runs(150, seeded);
      it(`${name} Dockerfiles (${seeded} seed)`, { timeout: timeout(numRuns) }, async () => {
        await agreeWithOracle<string, readonly [ParseAnswer, ParseAnswer]>({
          arbitrary: dockerfileArbitrary(options),
          seed: seeded === 'fixed' ? FIXED_SEED : RANDOM_SEED,
          numRuns,
          ask: async (texts) => {
            const printed = texts.map((t) => reprint(t) ?? t);
            const [source, reread] = await Promise.all([askParse(texts), askParse(printed)]);
            return source.map((a, i) => [a, reread[i]!] as const);
          },
          check: (text, [source, reread]) => {
            const printed = reprint(text);
            if (printed === undefined) return; // a disagreement on parsing, reported above
            expect(printedEssence(reread), printed).toEqual(printedEssence(source));
          },
        });
      });
    }
  }
});

describe.runIf(oracle)('ShellLex agrees with BuildKit', () => {
  for (const seeded of ['fixed', 'random'] as const) {
    const numRuns = runs(800, seeded);
    it(`processWord and processWords (${seeded} seed)`, { timeout: timeout(numRuns) }, async () => {
      await agreeWithOracle<WordCase, WordAnswers>({
        arbitrary: fc.tuple(shellWordArbitrary(), shellEnvArbitrary()),
        seed: seeded === 'fixed' ? FIXED_SEED : RANDOM_SEED,
        numRuns,
        ask: askWords,
        check: checkWord,
      });
    });
  }
});

describe.runIf(oracle)('parseDockerfile agrees with BuildKit at its 64 KiB line limit', () => {
  /** Lines of `bytes` UTF-8 bytes (or one character more), in each place a line can be. */
  function linesAround(bytes: number, fill: string): string[] {
    let line = 'RUN ';
    while (Buffer.byteLength(line) < bytes) line += fill;
    return [line, `${line}\n`, `FROM a\n${line}\nRUN b`, `RUN <<EOF\n${line}\nEOF\n`, `${line.slice(0, 10)}\\\n${line.slice(10)}`, `# ${line}\nFROM a`];
  }
  const texts = [65533, 65534, 65535, 65536, 65537].flatMap((n) => ['x', 'é', '😀'].flatMap((fill) => linesAround(n, fill)));

  it(`${texts.length} Dockerfiles with lines of 65,533 to 65,537 bytes`, async () => {
    const answers = await askParse(texts);
    texts.forEach((text, i) => checkParse(text, answers[i]!));
  });
});

// ---------------------------------------------------------------- disagreements found by the properties

const deepJson = (n: number) => `RUN ${'['.repeat(n)}${']'.repeat(n)}\n`;
const deepWord = (n: number) => `${'${A:-'.repeat(n)}x${'}'.repeat(n)}`;

/** Minimal inputs on which layerkit and BuildKit disagreed, each with what goes wrong. */
const PARSE_EXAMPLES: Array<[what: string, text: string]> = [
  // BuildKit scans flags byte by byte; a continuation byte 0x85 or 0xA0 counts as white space and
  // splits a character, and its dump quotes the stray bytes as \x.. escapes.
  ['flag value split inside a character (stray byte in the dump)', 'RUN --a=\u1140 x'],
  // parseHealthConfig finds the type word byte by byte as well.
  ['HEALTHCHECK type word split inside a character', 'HEALTHCHECK \u00e0 CMD x'],
  // ARG splits its words rune by rune: the stray byte left by the flag split decodes to U+FFFD.
  ['a stray byte after a flag, in ARG words', 'ARG --u=\u1140 x'],
  // The trigger keyword is the stray byte; Go's strings.ToLower turns it into U+FFFD.
  ['a stray byte as the ONBUILD trigger keyword', 'ONBUILD --u=\u1140 RUN x'],
  // strconv.Quote escapes what Go's Unicode tables (13.0 in the oracle's Go 1.19) do not call printable.
  ['a character newer than Unicode 13 in the dump', 'RUN \u{1fae0}'],
  ['an unassigned astral code point in the dump', 'RUN \u{32def}'],
  // Deeply nested JSON: BuildKit rejects it (not strings); layerkit overflows its stack.
  ['JSON nested 5000 deep', deepJson(5000)],
  // Go's JSON decoder stops at depth 10000: BuildKit then reads shell form.
  ['JSON nested 10001 deep', deepJson(10001)],
  // The heredoc line is lexed word by word; a 5000-deep ${…} overflows layerkit's stack.
  ['a 5000-deep ${A:-…} on a heredoc line', `RUN ${deepWord(5000)} <<EOF\nEOF\n`],
];

const WORD_EXAMPLES: Array<[what: string, word: string, env: string[]]> = [
  // Go 1.19's unicode.IsLetter (Unicode 13) does not know U+0870 (Unicode 14): the name is X.
  ['a variable name followed by a letter newer than Unicode 13', '$X\u0870', ['X=1']],
  ['a 5000-deep ${A:-…} word', deepWord(5000), []],
];

describe.runIf(oracle)('known disagreements with BuildKit (minimal reproducers)', () => {
  it.each(PARSE_EXAMPLES)('parse: %s', async (_what, text) => {
    checkParse(text, await oracle!.parse(text));
  });

  it.each(WORD_EXAMPLES)('words: %s', async (_what, word, env) => {
    const [answers] = await askWords([[word, env]]);
    checkWord([word, env], answers!);
  });
});
