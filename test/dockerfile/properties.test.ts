/**
 * Laws of the Dockerfile parser and printer, over generated Dockerfiles
 * (src/testing/dockerfile.ts):
 *
 * - `parseDockerfile` answers any text with a tree or a DockerfileSyntaxError,
 *   never with another exception;
 * - printing then parsing again gives the same BuildKit dump, the same
 *   heredocs and the same escape token, whether the printer reuses the source
 *   lines or writes an instruction from its fields.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DockerfileSyntaxError, dumpAst, parseDockerfile, printDockerfile, type DockerfileAst, type InstructionNode } from '../../src/dockerfile/index.js';
import { dockerfileArbitrary, dockerfileLikeTextArbitrary, type DockerfileArbitraryOptions } from '../../src/testing/dockerfile.js';

const RUNS = Number(process.env.LAYERKIT_FUZZ_RUNS) || 0;
const runs = (n: number) => RUNS || n;
const timeout = (n: number) => 60_000 + n * 10;

/** The tree, or undefined for a DockerfileSyntaxError; any other exception propagates. */
function parseOrReject(text: string, strict: boolean): DockerfileAst | undefined {
  try {
    return parseDockerfile(text, { strict });
  } catch (err) {
    if (err instanceof DockerfileSyntaxError) return undefined;
    throw err;
  }
}

describe('parseDockerfile on any text', () => {
  const inputs: Array<[string, fc.Arbitrary<string>, number]> = [
    ['Dockerfile-like text', dockerfileLikeTextArbitrary(), 300],
    ['any UTF-16 string', fc.string({ unit: 'binary', maxLength: 200 }), 300],
    ['lines of printable ASCII', fc.array(fc.string({ maxLength: 30 }), { maxLength: 20 }).map((l) => l.join('\n')), 300],
  ];
  for (const [name, arbitrary, n] of inputs) {
    it(`answers ${name} with a tree or a DockerfileSyntaxError`, { timeout: timeout(runs(n)) }, () => {
      fc.assert(
        fc.property(arbitrary, fc.boolean(), (text, strict) => {
          const ast = parseOrReject(text, strict);
          // A tree must also dump and print without throwing.
          if (ast) {
            dumpAst(ast);
            printDockerfile(ast);
          }
        }),
        { numRuns: runs(n) },
      );
    });
  }

  it('reports a line inside the text', { timeout: timeout(runs(200)) }, () => {
    fc.assert(
      fc.property(dockerfileArbitrary({ malformed: true, maxInstructions: 4 }), (text) => {
        try {
          parseDockerfile(text, { strict: false });
        } catch (err) {
          if (!(err instanceof DockerfileSyntaxError)) throw err;
          expect(err.line).toBeGreaterThanOrEqual(1);
          expect(err.line).toBeLessThanOrEqual(text.split('\n').length);
          expect(err.code).toBe('DOCKERFILE_SYNTAX');
        }
      }),
      { numRuns: runs(200) },
    );
  });
});

/** What printing must keep: the dump, every heredoc, the escape token. */
function essence(ast: DockerfileAst) {
  return {
    dump: dumpAst(ast),
    escapeToken: ast.escapeToken,
    heredocs: ast.children.map((node) => node.heredocs.map(({ name, content, expand, chomp }) => ({ name, content, expand, chomp }))),
  };
}

/** The same tree as if built by hand: no source text left, so the printer writes every line from the fields. */
function withoutSource(node: InstructionNode): InstructionNode {
  const copy: InstructionNode = { ...node, original: '', segments: [] };
  if (node.child) copy.child = withoutSource(node.child);
  return copy;
}

const ROUND_TRIP: Array<[string, DockerfileArbitraryOptions, number]> = [
  ['ASCII Dockerfiles', { unicode: false }, 250],
  ['Dockerfiles with Unicode', {}, 250],
  ['Dockerfiles with odd forms that parse', { malformed: true }, 250],
];

describe('printDockerfile', () => {
  for (const [name, options, n] of ROUND_TRIP) {
    it(`${name}: parse ∘ print keeps the dump and the heredocs`, { timeout: timeout(runs(n)) }, () => {
      fc.assert(
        fc.property(dockerfileArbitrary(options), (text) => {
          const ast = parseOrReject(text, false);
          fc.pre(ast !== undefined);
          const printed = printDockerfile(ast!);
          expect(essence(parseDockerfile(printed, { strict: false })), printed).toEqual(essence(ast!));
        }),
        { numRuns: runs(n) },
      );
    });

    it(`${name}: instructions written from their fields read back the same`, { timeout: timeout(runs(n)) }, () => {
      fc.assert(
        fc.property(dockerfileArbitrary(options), (text) => {
          const ast = parseOrReject(text, false);
          fc.pre(ast !== undefined);
          const edited: DockerfileAst = { ...ast!, children: ast!.children.map(withoutSource) };
          const printed = printDockerfile(edited);
          expect(essence(parseDockerfile(printed, { strict: false })), printed).toEqual(essence(ast!));
        }),
        { numRuns: runs(n) },
      );
    });
  }

  // Found by the property above: BuildKit reads flags byte by byte, so a
  // character with a 0x85 or 0xA0 byte is cut in two: the flag keeps the bytes
  // before (as Latin-1 letters), the arguments start with the bytes after
  // (U+FFFD in the tree). Written from the fields, neither half reads back.
  it.each([
    ['a flag cut inside a 3-byte character', 'RUN --a=\u1140 x\n'],
    ['a flag cut inside a 4-byte character', 'COPY --u=\u{45000} a\n'],
    ['the same in an ONBUILD trigger', 'ONBUILD COPY --u=\u{45000} a\n'],
  ])('instructions written from their fields read back the same: %s', (_what, text) => {
    const ast = parseDockerfile(text, { strict: false });
    const printed = printDockerfile({ ...ast, children: ast.children.map(withoutSource) });
    expect(essence(parseDockerfile(printed, { strict: false })), printed).toEqual(essence(ast));
  });

  it('is stable: printing a printed Dockerfile again changes nothing', { timeout: timeout(runs(200)) }, () => {
    fc.assert(
      fc.property(dockerfileArbitrary(), (text) => {
        const ast = parseOrReject(text, false);
        fc.pre(ast !== undefined);
        const once = printDockerfile(ast!);
        expect(printDockerfile(parseDockerfile(once, { strict: false }))).toBe(once);
      }),
      { numRuns: runs(200) },
    );
  });
});
