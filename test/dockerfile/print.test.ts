/**
 * The printer: parse ∘ print keeps BuildKit's dump, heredocs and the escape
 * token; what it normalizes is shown by examples.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  dumpAst,
  parseDockerfile,
  printDockerfile,
  type DockerfileAst,
  type InstructionNode,
} from '../../src/dockerfile/index.js';
import { dockerfileArbitrary, dockerfileLikeTextArbitrary } from '../../src/testing/dockerfile.js';

const RUNS = Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 200);

function tryParse(text: string): DockerfileAst | undefined {
  try {
    return parseDockerfile(text, { strict: false });
  } catch {
    return undefined;
  }
}

/** Everything of a tree that printing must keep. */
const essence = (ast: DockerfileAst) => ({
  dump: dumpAst(ast),
  escapeToken: ast.escapeToken,
  heredocs: ast.children.map((c) => c.heredocs),
});

function roundTrip(text: string): void {
  const ast = tryParse(text);
  if (!ast) return;
  const printed = printDockerfile(ast);
  const again = parseDockerfile(printed, { strict: false });
  expect(essence(again)).toEqual(essence(ast));
  // Printing what was printed changes nothing more.
  expect(printDockerfile(again)).toBe(printed);
}

/** Token soup: the characters and words the grammar cares about, in any order. */
const soup = fc
  .array(
    fc.constantFrom(
      'RUN ', 'COPY ', 'ENV ', 'ONBUILD ', 'HEALTHCHECK ', 'FROM ', 'CMD ', 'LABEL ', 'ARG ', 'x ',
      ' ', '\t', '\n', '\r\n', '\\', '\\\n', '`', '#', '"', "'", '=', '[', ']', '["a"]', '--f=x ', '-- ',
      '<<E', '<<-E', "<<'E'", '\nE\n', '\n\tE\n', '$', '${a:-b}', 'é', '\u00a0', 'a', 'b c',
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

describe('printDockerfile', () => {
  it('keeps dump, heredocs and escape token of generated Dockerfiles', () => {
    fc.assert(fc.property(dockerfileArbitrary(), roundTrip), { numRuns: RUNS });
  });

  it('keeps them for Dockerfile-like text and token soup too', () => {
    fc.assert(fc.property(fc.oneof(dockerfileLikeTextArbitrary(), soup), roundTrip), { numRuns: RUNS });
  });

  it('keeps heredoc bodies and continuation lines where they were', () => {
    const text = 'FROM a\nRUN <<-EOF cat > /x \\\n    && echo done\n\tindented\nplain\n\tEOF\nCOPY <<A <<"B" /dst\na\nA\n$b\nB\n';
    expect(printDockerfile(parseDockerfile(text))).toBe(
      'FROM a\nRUN <<-EOF cat > /x \\\n    && echo done\n\tindented\nplain\nEOF\nCOPY <<A <<"B" /dst\na\nA\n$b\nB\n',
    );
  });

  it('normalizes indentation, blank runs, and comments or blank lines inside continuations', () => {
    const text = '# syntax=x\n# escape=`\n\n# about a\n   FROM a\n\n\n\nRUN a `\n# gone\n\n   b\r\n';
    expect(printDockerfile(parseDockerfile(text))).toBe(
      '# syntax=x\n# escape=`\n\n# about a\nFROM a\n\nRUN a `\n   b\n',
    );
  });

  it('separates a comment that looks like a directive from the top of the file', () => {
    const ast = parseDockerfile('\n# escape=`\nRUN a `\nRUN b');
    const printed = printDockerfile(ast);
    expect(printed).toBe('\n# escape=`\nRUN a `\nRUN b\n');
    expect(parseDockerfile(printed).escapeToken).toBe('\\');
  });

  it('writes the escape directive the tree needs', () => {
    const ast = parseDockerfile('RUN a');
    ast.escapeToken = '`';
    expect(printDockerfile(ast)).toBe('# escape=`\nRUN a\n');
  });

  it('writes edited instructions from their fields', () => {
    const ast = parseDockerfile('FROM a\nCOPY --from=a x \\\n  y\nENV a=1\nCMD ["a"]\nONBUILD RUN b\nRUN -- --x');
    const [, copy, env, cmd, onbuild, run] = ast.children as [InstructionNode, ...InstructionNode[]];
    copy!.flags = ['--from=b c', '--chown=1'];
    copy!.args = ['p', '/dst'];
    env!.args = ['a', '"1 2"', '=', 'b', 'x', '='];
    cmd!.args = ['sh', '-c', 'echo "hi"'];
    onbuild!.child!.args = ['c'];
    run!.args = ['--y'];
    const printed = printDockerfile(ast);
    expect(printed).toBe(
      'FROM a\nCOPY --"from=b c" --chown=1 p /dst\nENV a="1 2" b=x\nCMD ["sh","-c","echo \\"hi\\""]\nONBUILD RUN c\nRUN -- --y\n',
    );
    expect(dumpAst(parseDockerfile(printed))).toBe(dumpAst(ast));
  });

  it('writes list arguments with blanks in them as JSON', () => {
    const ast = parseDockerfile('COPY a b');
    ast.children[0]!.args = ['a b', '/c d/'];
    expect(printDockerfile(ast)).toBe('COPY ["a b","/c d/"]\n');
  });

  it('writes an unterminated continuation at the end of the file so it stays one', () => {
    for (const text of ['FROM a\nRUN b \\\\ \\', 'FROM a\n\\', 'FROM a\nONBUILD \\ \\']) {
      const ast = parseDockerfile(text, { strict: false });
      expect(dumpAst(parseDockerfile(printDockerfile(ast), { strict: false }))).toBe(dumpAst(ast));
    }
  });
});
