/**
 * Example tests of the Dockerfile parser. Every expected dump, line range,
 * heredoc and message below is what BuildKit's parser (moby/buildkit
 * frontend/dockerfile/parser) gives for the same input.
 */
import { describe, expect, it } from 'vitest';
import {
  DockerfileSyntaxError,
  dumpAst,
  parseDockerfile,
  positionInSegments,
  type DockerfileAst,
} from '../../src/dockerfile/index.js';

const dump = (text: string, strict = false): string => dumpAst(parseDockerfile(text, { strict }));

function syntaxError(text: string, strict = true): DockerfileSyntaxError {
  try {
    parseDockerfile(text, { strict });
  } catch (err) {
    if (err instanceof DockerfileSyntaxError) return err;
    throw err;
  }
  throw new Error('expected a DockerfileSyntaxError');
}

const lines = (ast: DockerfileAst) => ast.children.map((c) => [c.startLine, c.endLine]);

// BEGIN BUILDKIT DUMPS
/** [input, BuildKit's dump]: checked against BuildKit's parser. */
const DUMPS: Array<[string, string]> = [
  // heredocs: the instruction line keeps `<<EOF`; bodies are not in the dump
  ['FROM a\nRUN <<EOF\necho hi\nEOF\n', '(from "a")\n(run "<<EOF")'],
  ['COPY <<A <<B /dst\na\nA\nb\nB\nRUN x', '(copy "<<A" "<<B" "/dst")\n(run "x")'],
  ['USER <<EOF\nEOF\n', '(user "<<EOF")\n(eof "")'],
  ['CMD <<EOF\nEOF\n', '(cmd "<<EOF")\n(eof "")'],
  ['RUN ["<<EOF"]\nEOF\n', '(run "<<EOF")\n(eof "")'],
  ['RUN "<<EOF"\nEOF\n', '(run "\\"<<EOF\\"")\n(eof "")'],
  ['ONBUILD RUN <<EOF\nbody\nEOF\n', '(onbuild (run "<<EOF"))'],
  // escape directive
  ['# escape=`\nFROM a\nRUN a `\n  b\n', '(from "a")\n(run "a   b")'],
  ['# escape=`\nRUN dir c:\\\nRUN x', '(run "dir c:\\\\")\n(run "x")'],
  ['#ESCAPE = `\nRUN a`\nb', '(run "ab")'],
  ['# hello\n# escape=`\nRUN a `\nb', '(run "a `")\n(b "")'],
  ['\n# escape=`\nRUN a `\nb', '(run "a `")\n(b "")'],
  ['\ufeff# escape=`\nRUN a`\nb', '(run "ab")'],
  ['# escape=`\nENV a="b`" c" d=e`\n  f=g', '(env "a" "\\"b`\\" c\\"" "=" "d" "e" "=" "f" "g" "=")'],
  // continuations
  ['RUN a \\\n# comment\n b', '(run "a  b")'],
  ['RUN a \\\n\n b', '(run "a  b")'],
  ['RUN a \\\n   \t\n b', '(run "a  b")'],
  ['RUN a \\', '(run "a")'],
  ['RUN a \\\\\nFROM b', '(run "a \\\\\\\\")\n(from "b")'],
  ['RUN a \\  \t\n b', '(run "a  b")'],
  ['\\\nRUN x', '(run "x")'],
  ['RUN a\\\n   b', '(run "a   b")'],
  ['RUN a \\\r\n b\r\nRUN c\r\n', '(run "a  b")\n(run "c")'],
  ['  \n\t\nRUN x\n   \n', '(run "x")'],
  ['RUN a \\\\ \\\n b', '(run "a \\\\\\\\  b")'],
  // instruction line parsers
  ['ENV a b c', '(env "a" "b c" "")'],
  ['ENV a=b c="d e" f=', '(env "a" "b" "=" "c" "\\"d e\\"" "=" "f" "" "=")'],
  ['LABEL "a b"=c', '(label "\\"a b\\"" "c" "=")'],
  ['ARG a b=c "d e"', '(arg "a" "b=c" "\\"d e\\"")'],
  ['MAINTAINER Jane Doe <jane@example.com>', '(maintainer "Jane Doe <jane@example.com>")'],
  ['HEALTHCHECK NONE', '(healthcheck "NONE")'],
  ['HEALTHCHECK --interval=5s CMD ["curl", "-f", "x"]', '(healthcheck ["--interval=5s"] "CMD" "curl" "-f" "x")'],
  ['HEALTHCHECK CMD curl -f x || exit 1', '(healthcheck "CMD" "curl -f x || exit 1")'],
  ['CMD [a]', '(cmd "[a]")'],
  ['RUN ["a" "b"]', '(run "[\\"a\\" \\"b\\"]")'],
  ['CMD ["a", 1e999]', '(cmd "[\\"a\\", 1e999]")'],
  ['CMD ["a\\u00e9\\n"]', '(cmd "aé\\n")'],
  ['SHELL ["/bin/bash", "-c"]', '(shell "/bin/bash" "-c")'],
  ['EXPOSE 80 443/udp', '(expose "80" "443/udp")'],
  ['FROM   alpine  AS   build', '(from "alpine" "AS" "build")'],
  ['VOLUME ["/a", "/b"]\nVOLUME /c /d', '(volume "/a" "/b")\n(volume "/c" "/d")'],
  ['COPY ["a b", "c"]', '(copy "a b" "c")'],
  ['COPY --from=a --chown="1 2" x y', '(copy ["--from=a" "--chown=1 2"] "x" "y")'],
  ["COPY --a='x\\'y' p q", '(copy ["--a=x\'y"] "p" "q")'],
  ['RUN -- --x', '(run "--x")'],
  ['RUN --mount=type=cache,target=/c -- echo', '(run ["--mount=type=cache,target=/c"] "echo")'],
  ['COPY --from=é a b', '(copy ["--from=Ã©"] "a" "b")'],
  ['ENTRYPOİNT ["a"]', '(entrypoint "a")'],
  ['from A\nRun b', '(from "A")\n(run "b")'],
  ['ONBUILD ADD . /app', '(onbuild (add "." "/app"))'],
  ['ONBUILD RUN --mount=x ["a"]', '(onbuild (run ["--mount=x"] "a"))'],
  ['ONBUILD', '(onbuild)'],
  ['FORM alpine', '(form "")'],
  ['RUN\ta\u00a0b', '(run "a\\u00a0b")'],
  ['RUN echo "\u0007\u007f\u0085\u{1f600}"', '(run "echo \\"\\a\\x7f\\u0085😀\\"")'],
  // BuildKit splits flags and the HEALTHCHECK type byte by byte: 0x85 and 0xA0 end a word even inside a character
  ['ENV A="\u{30080} echo" B=\u00e9', '(env "A" "\\"\u{30080} echo\\"" "=" "B" "\u00e9" "=")'],
  ['ARG --u=\u1140 x', '(arg ["--u=\u00e1"] "\ufffd" "x")'],
  ['ONBUILD --u=\u1140 RUN x', '(onbuild ["--u=\u00e1"] (\ufffd ""))'],
  ['HEALTHCHECK \u00e0 CMD x', '(healthcheck "\\xc3" "CMD x")'],
  ['RUN --a=\u2800 x', '(run ["--a=\u00e2"] "\\x80 x")'],
  ['VOLUME --a=x\u00a0--b ["a"]', '(volume ["--a=x\u00c2" "--b"] "a")'],
  // printable means printable in the reference's Unicode (13.0)
  ['RUN \u{1fae0} \u0870 \u00a0', '(run "\\U0001fae0 \\u0870")'],
];
// END BUILDKIT DUMPS

describe('parseDockerfile: BuildKit dumps', () => {
  it.each(DUMPS)('%j', (input, expected) => {
    expect(dump(input)).toBe(expected);
  });
});

const heredocsOf = (text: string) => parseDockerfile(text).children.map((c) => c.heredocs);

describe('heredocs', () => {
  it('reads the body up to the delimiter, every line with its newline', () => {
    const ast = parseDockerfile('FROM a\nRUN <<EOF\necho hi\nEOF\n');
    expect(ast.children[1]!.heredocs).toEqual([{ name: 'EOF', content: 'echo hi\n', expand: true, chomp: false }]);
    expect(lines(ast)).toEqual([
      [1, 1],
      [2, 4],
    ]);
  });

  it('<<- keeps the tabs in the body (they are chomped later) and accepts a tab-indented delimiter', () => {
    expect(heredocsOf('RUN <<-EOF\n\techo\n\t\tx\n\tEOF\n')[0]).toEqual([
      { name: 'EOF', content: '\techo\n\t\tx\n', expand: true, chomp: true },
    ]);
  });

  it('a tab-indented delimiter does not end a plain <<EOF body', () => {
    expect(() => parseDockerfile('RUN <<EOF\n\tEOF\n')).toThrow('unterminated heredoc');
  });

  it('quoting any part of the delimiter turns expansion off', () => {
    const docs = heredocsOf("RUN <<'EOF'\n$x\nEOF\nRUN <<\"EOF\"\n$x\nEOF\nRUN <<E\"O\"F\nEOF\nRUN <<EOF\n$x\nEOF");
    expect(docs.map((d) => [d[0]!.name, d[0]!.expand])).toEqual([
      ['EOF', false],
      ['EOF', false],
      ['EOF', false],
      ['EOF', true],
    ]);
  });

  it('an escaped quote is part of the name and does not disable expansion', () => {
    expect(heredocsOf("RUN <<eo\\'f\necho foo\neo'f\n")[0]).toEqual([
      { name: "eo'f", content: 'echo foo\n', expand: true, chomp: false },
    ]);
  });

  it('several heredocs on one line are read one after the other', () => {
    const ast = parseDockerfile('COPY <<A <<B /dst\na\nA\nb\nB\nRUN x');
    expect(ast.children[0]!.heredocs.map((h) => [h.name, h.content])).toEqual([
      ['A', 'a\n'],
      ['B', 'b\n'],
    ]);
    expect(lines(ast)).toEqual([
      [1, 5],
      [6, 6],
    ]);
  });

  it('a file descriptor, words after the delimiter and spaces after << are allowed', () => {
    expect(heredocsOf('RUN 3<<EOF cat\nx\nEOF\n')[0]![0]!.name).toBe('EOF');
    expect(heredocsOf('RUN <<  EOF  > foo\nEOF\n')[0]![0]).toEqual({ name: 'EOF', content: '', expand: true, chomp: false });
  });

  it('keeps \\r\\n in the body and matches a delimiter line ending in \\r\\n', () => {
    const ast = parseDockerfile('RUN <<EOF\r\nx\r\nEOF\r\nRUN y');
    expect(ast.children[0]!.heredocs[0]!.content).toBe('x\r\n');
    expect(lines(ast)).toEqual([
      [1, 3],
      [4, 4],
    ]);
  });

  it('the heredoc line may continue before the body starts', () => {
    const ast = parseDockerfile('RUN <<EOF \\\n  && echo\nbody\nEOF\n');
    expect(dumpAst(ast)).toBe('(run "<<EOF   && echo")');
    expect(ast.children[0]!.heredocs[0]!.content).toBe('body\n');
  });

  it('is found after ${…} nested thousands deep on the same line', () => {
    const deep = '${A:-'.repeat(6000) + 'x' + '}'.repeat(6000);
    const ast = parseDockerfile(`RUN ${deep} <<EOF\nbody\nEOF\n`);
    expect(ast.children[0]!.heredocs.map((h) => [h.name, h.content])).toEqual([['EOF', 'body\n']]);
  });

  it('is attached to ONBUILD when its trigger may carry one', () => {
    const ast = parseDockerfile('ONBUILD RUN <<EOF\nbody\nEOF\n');
    expect(ast.children[0]!.heredocs.map((h) => h.content)).toEqual(['body\n']);
    expect(ast.children[0]!.child!.heredocs).toEqual([]);
  });

  it('is not read for other instructions, the JSON form, or a quoted <<', () => {
    for (const text of ['USER <<EOF\nEOF\n', 'CMD <<EOF\nEOF\n', 'RUN ["<<EOF"]\nEOF\n', 'RUN "<<EOF"\nEOF\n']) {
      const ast = parseDockerfile(text, { strict: false });
      expect(ast.children.map((c) => c.heredocs)).toEqual([[], []]);
      expect(ast.children[1]!.keyword).toBe('eof');
    }
  });

  it('an unterminated heredoc is an error located at its instruction', () => {
    const err = syntaxError('FROM a\nRUN <<EOF\nx\n');
    expect(err.message).toBe('unterminated heredoc');
    expect([err.line, err.column]).toEqual([2, 5]);
  });
});

describe('directives and the escape token', () => {
  it('records directives and the escape token in force', () => {
    const ast = parseDockerfile('# syntax=docker/dockerfile:1\n# check=skip=all\n#escape = `\nFROM a');
    expect(ast.directives).toEqual([
      { name: 'syntax', value: 'docker/dockerfile:1', line: 1 },
      { name: 'check', value: 'skip=all', line: 2 },
      { name: 'escape', value: '`', line: 3 },
    ]);
    expect(ast.escapeToken).toBe('`');
    expect(ast.children[0]!.comments).toEqual([]);
  });

  it('stops reading directives at the first other line', () => {
    for (const text of ['# hello\n# escape=`\nRUN a `\nb', '\n# escape=`\nRUN a `\nb']) {
      const ast = parseDockerfile(text, { strict: false });
      expect(ast.escapeToken).toBe('\\');
      expect(ast.directives).toEqual([]);
    }
  });

  it('with ` as escape token a backslash is an ordinary character', () => {
    expect(dump('# escape=`\nRUN dir c:\\\nRUN x')).toBe('(run "dir c:\\\\")\n(run "x")');
  });

  it('a byte-order mark before a directive is ignored', () => {
    expect(parseDockerfile('\ufeff# escape=`\nRUN a`\nb').escapeToken).toBe('`');
  });

  it('rejects an escape token other than \\ and `', () => {
    const err = syntaxError('# escape=x\nFROM a');
    expect(err.message).toBe("invalid escape token 'x' does not match ` or \\");
    expect(err.line).toBe(1);
  });

  it('rejects a repeated directive (BuildKit locates it on the line before)', () => {
    const err = syntaxError('# syntax=a\n# escape=`\n# escape=`\nFROM a');
    expect(err.message).toBe('only one escape parser directive can be used');
    expect(err.line).toBe(2);
  });
});

describe('continuation lines', () => {
  it('warns about empty continuation lines, at the end of the instruction', () => {
    const ast = parseDockerfile('RUN a \\\n\n b\nRUN c\\\n  \nd');
    expect(dumpAst(ast)).toBe('(run "a  b")\n(run "cd")');
    expect(ast.warnings.map((w) => [w.short, w.range.start.line])).toEqual([
      ['Empty continuation line found in: RUN a  b', 3],
      ['Empty continuation line found in: RUN cd', 6],
    ]);
    expect(ast.warnings[0]!.url).toBe('https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/');
  });

  it('drops comment lines inside a continuation without a warning', () => {
    const ast = parseDockerfile('RUN a \\\n  # comment\n b');
    expect(dumpAst(ast)).toBe('(run "a  b")');
    expect(ast.warnings).toEqual([]);
    expect(lines(ast)).toEqual([[1, 3]]);
  });

  it('a continuation may run to the end of the file', () => {
    const ast = parseDockerfile('FROM a\nRUN b \\\n');
    expect(dumpAst(ast)).toBe('(from "a")\n(run "b")');
    expect(lines(ast)).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  it('a lone escape token on the first line starts a continuation', () => {
    expect(lines(parseDockerfile('\\\nRUN x'))).toEqual([[1, 2]]);
  });

  it('keeps the original text joined, as BuildKit Node.Original', () => {
    const [run] = parseDockerfile('  RUN a \\\n# c\n   b \\\n\n  c').children;
    expect(run!.original).toBe('RUN a    b   c');
  });

  it('keeps comments above an instruction; a bare # clears them', () => {
    const ast = parseDockerfile('# one\n\n# two\nFROM a\n# three\n#\n# four\n  # five\nRUN b');
    expect(ast.children.map((c) => c.comments)).toEqual([['one', 'two'], ['four', '# five']]);
  });
});

describe('positions', () => {
  it('ranges run from the keyword to the end of the last line', () => {
    const ast = parseDockerfile('FROM a\n  RUN  echo \\\n    hi\n');
    expect(ast.children[1]!.range).toEqual({ start: { line: 2, column: 3 }, end: { line: 3, column: 6 } });
  });

  it('columns on line 1 do not count a byte-order mark', () => {
    expect(parseDockerfile('\ufeff FROM a').children[0]!.range.start).toEqual({ line: 1, column: 2 });
  });

  it('heredoc bodies are inside the range', () => {
    expect(parseDockerfile('RUN <<EOF\nbody\nEOF').children[0]!.range.end).toEqual({ line: 3, column: 3 });
  });

  it('segments map offsets of the joined text back to the source', () => {
    const [run] = parseDockerfile('\tRUN a \\\n# c\n  b \\\n c').children;
    expect(run!.segments).toEqual([
      { offset: 0, line: 1, column: 2 },
      { offset: 6, line: 3, column: 1 },
      { offset: 10, line: 4, column: 1 },
    ]);
    expect(positionInSegments(run!.segments, run!.original.indexOf('b'))).toEqual({ line: 3, column: 3 });
    expect(positionInSegments(run!.segments, run!.original.lastIndexOf('c'))).toEqual({ line: 4, column: 2 });
  });

  it("ONBUILD's trigger starts at its own keyword", () => {
    const [onbuild] = parseDockerfile('ONBUILD   RUN x').children;
    expect(onbuild!.child!.range.start).toEqual({ line: 1, column: 11 });
    expect(onbuild!.child!.original).toBe('RUN x');
  });
});

describe('errors', () => {
  it('unknown instructions get a did-you-mean in the case they were written in', () => {
    const upper = syntaxError('FROM a\nFORM b');
    expect(upper.message).toBe('unknown instruction: FORM (did you mean FROM?)');
    expect([upper.line, upper.column]).toEqual([2, 1]);
    expect(upper.data.suggestion).toBe('FROM');
    expect(syntaxError('form b').message).toBe('unknown instruction: form (did you mean from?)');
    expect(syntaxError('  Xyzzy b').message).toBe('unknown instruction: Xyzzy');
    expect(syntaxError('  Xyzzy b').column).toBe(3);
  });

  it('without strict, unknown instructions are kept as BuildKit parser nodes', () => {
    expect(dump('FORM alpine --x')).toBe('(form "")');
    expect(parseDockerfile('FORM alpine', { strict: false }).children[0]!.rawKeyword).toBe('FORM');
  });

  it('rejects ONBUILD triggers BuildKit does not allow', () => {
    expect(syntaxError('ONBUILD ONBUILD RUN x').message).toBe('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
    expect(syntaxError('ONBUILD from x').message).toBe("FROM isn't allowed as an ONBUILD trigger");
    const maintainer = syntaxError('FROM a\n ONBUILD  MAINTAINER me');
    expect(maintainer.message).toBe("MAINTAINER isn't allowed as an ONBUILD trigger");
    expect([maintainer.line, maintainer.column]).toEqual([2, 11]);
    expect(syntaxError('ONBUILD').message).toBe('ONBUILD requires at least one argument');
    expect(dump('ONBUILD ONBUILD RUN x')).toBe('(onbuild (onbuild (run "x")))');
  });

  it('parse errors come before strict checks, as in BuildKit', () => {
    expect(syntaxError('FORM a\nENV b').message).toBe('ENV must have two arguments');
  });

  it('locates errors in arguments at the offending text', () => {
    const json = syntaxError('FROM a\nCMD ["a", 1]');
    expect(json.message).toBe('when using JSON array syntax, arrays must be comprised of strings only');
    expect([json.line, json.column]).toEqual([2, 5]);
    const env = syntaxError('ENV a=b  c');
    expect(env.message).toBe('Syntax error - can\'t find = in "c". Must be of the form: name=value');
    expect(env.column).toBe(10);
    expect(syntaxError('LABEL a').message).toBe('LABEL must have two arguments');
  });

  it('a file without instructions is an error at its last line', () => {
    expect(syntaxError('').message).toBe('file with no instructions');
    expect(syntaxError('# a\n\n# b\n').line).toBe(3);
  });

  it('lines longer than 65535 bytes are an error, as with BuildKit', () => {
    expect(dump('FROM a\nRUN ' + 'a'.repeat(65531))).toContain('(run "aaa');
    const err = syntaxError('FROM a\nRUN ' + 'a'.repeat(65532));
    expect(err.message).toBe('dockerfile line greater than max allowed size of 65535');
    expect(syntaxError('FROM a\nRUN ' + 'é'.repeat(40000)).message).toContain('max allowed size');
  });

  it('formats as FILE:LINE:COL, the source line and a caret', () => {
    expect(syntaxError('FROM a\n  FORM b\n').format('Dockerfile')).toBe(
      'Dockerfile:2:3: unknown instruction: FORM (did you mean FROM?)\n  FORM b\n  ^',
    );
  });

  it('never throws anything but DockerfileSyntaxError on odd input', () => {
    for (const text of ['\u0000', 'RUN <<${', 'RUN <<"', 'COPY <<${a:#} x', '[', 'ONBUILD ONBUILD', '\r\r\r', 'ENV "']) {
      try {
        parseDockerfile(text);
      } catch (err) {
        expect(err).toBeInstanceOf(DockerfileSyntaxError);
      }
    }
  });
});
