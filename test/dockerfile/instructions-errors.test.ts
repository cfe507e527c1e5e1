import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DockerfileSyntaxError } from '../../src/dockerfile/errors.js';
import { ShellExpansionError, ShellLex } from '../../src/dockerfile/shell/index.js';
import { parseDockerfile } from '../../src/dockerfile/syntax/index.js';
import type { InstructionNode } from '../../src/dockerfile/syntax/node.js';
import { expandInstruction, parseInstruction, parseInstructions } from '../../src/dockerfile/index.js';
import { LayerkitError } from '../../src/errors.js';

/** The error parsing `text` gives (parsed non-strictly, so the instruction layer sees everything). */
function failure(text: string): DockerfileSyntaxError {
  const ast = parseDockerfile(text, { strict: false });
  try {
    parseInstructions(ast, { source: text });
  } catch (err) {
    expect(err).toBeInstanceOf(DockerfileSyntaxError);
    return err as DockerfileSyntaxError;
  }
  throw new Error(`expected ${JSON.stringify(text)} to fail`);
}

/** The error of `line` inside a stage. */
function lineFailure(line: string): DockerfileSyntaxError {
  return failure(`FROM scratch\n${line}\n`);
}

function message(line: string): string {
  return lineFailure(line).message;
}

describe('argument counts (BuildKit’s messages)', () => {
  it.each([
    ['MAINTAINER', 'MAINTAINER requires exactly one argument'],
    ['WORKDIR', 'WORKDIR requires exactly one argument'],
    ['USER', 'USER requires exactly one argument'],
    ['STOPSIGNAL', 'STOPSIGNAL requires exactly one argument'],
    ['HEALTHCHECK', 'HEALTHCHECK requires at least one argument'],
    ['EXPOSE', 'EXPOSE requires at least one argument'],
    ['VOLUME', 'VOLUME requires at least one argument'],
    ['ARG', 'ARG requires at least one argument'],
    ['SHELL []', 'SHELL requires at least one argument'],
    ['SHELL /bin/sh -c', 'SHELL requires the arguments to be in JSON form'],
    ['COPY onlyone', 'COPY requires at least two arguments, but only one was provided. Destination could not be determined'],
    ['ADD onlyone', 'ADD requires at least two arguments, but only one was provided. Destination could not be determined'],
    ['VOLUME ["/a", " "]', 'VOLUME specified can not be an empty string'],
    ['ARG =x', 'ARG names can not be blank'],
    ['ENV =x', 'ENV names can not be blank'],
    ['HEALTHCHECK NONE x', 'HEALTHCHECK NONE takes no arguments'],
    ['HEALTHCHECK CMD', 'Missing command after HEALTHCHECK CMD'],
    ['HEALTHCHECK PING x', 'Unknown type "PING" in HEALTHCHECK (try CMD)'],
    ['COPY a <<EOF\nbody\nEOF', 'COPY cannot accept a heredoc as a destination'],
  ])('%s', (line, expected) => {
    const err = lineFailure(line);
    expect(err.message).toBe(expected);
    expect(err.line).toBe(2);
  });

  it('FROM requires one or three arguments and a valid stage name', () => {
    expect(failure('FROM a b\n').message).toBe('FROM requires either one or three arguments');
    expect(failure('FROM a AS b c\n').message).toBe('FROM requires either one or three arguments');
    expect(failure('FROM\n').message).toBe('FROM requires either one or three arguments');
    const bad = failure('FROM alpine AS 1st\n');
    expect(bad.message).toBe('invalid name for build stage: "1st", name can\'t start with a number or contain symbols');
    expect(bad.column).toBe(16);
    expect(failure('FROM alpine AS a$b\n').message).toContain('"a$b"');
  });

  it('ENV and LABEL nodes with a broken triple list are refused', () => {
    const node: InstructionNode = {
      keyword: 'env', rawKeyword: 'ENV', original: 'ENV a b', flags: [], args: ['a', 'b'], json: false,
      heredocs: [], comments: [], startLine: 3, endLine: 3,
      range: { start: { line: 3, column: 1 }, end: { line: 3, column: 7 } }, segments: [{ offset: 0, line: 3, column: 1 }],
    };
    expect(() => parseInstruction(node)).toThrowError('Bad input to ENV, too many arguments');
    expect(() => parseInstruction({ ...node, keyword: 'label', rawKeyword: 'LABEL', args: [] })).toThrowError(
      'LABEL requires at least one argument',
    );
  });
});

describe('unknown instructions and flags', () => {
  it('names an unknown instruction as written, with a suggestion in its case', () => {
    const err = failure('FROM a\nCOPPY x y\n');
    expect(err.message).toBe('unknown instruction: COPPY (did you mean COPY?)');
    expect(err.data).toMatchObject({ line: 2, column: 1, suggestion: 'COPY', sourceLine: 'COPPY x y' });
    expect(failure('FROM a\nworkdri /x\n').message).toBe('unknown instruction: workdri (did you mean workdir?)');
    expect(failure('FROM a\nXYZZY bar\n').message).toBe('unknown instruction: XYZZY');
  });

  it('names an unknown flag with a suggestion and points at it', () => {
    const err = lineFailure('COPY --chwon=1:1 a b');
    expect(err.message).toBe('unknown flag: --chwon (did you mean chown?)');
    expect(err.data).toMatchObject({ line: 2, column: 6, suggestion: 'chown' });
    expect(err.format('Dockerfile')).toBe(
      'Dockerfile:2:6: unknown flag: --chwon (did you mean chown?)\nCOPY --chwon=1:1 a b\n     ^',
    );
    expect(failure('FROM --platfrom=linux/amd64 alpine\n').message).toBe(
      'unknown flag: --platfrom (did you mean platform?)',
    );
    expect(message('MAINTAINER --boo joe@example.com')).toBe('unknown flag: --boo');
    // Flag names are compared case-sensitively, as in BuildKit.
    expect(message('COPY --LINK a b')).toBe('unknown flag: --LINK');
  });

  it('points at the flag on a continuation line, and at the right one of two', () => {
    const err = failure('FROM a\nRUN --network=host \\\n    --netwrk=none true\n');
    expect(err.message).toBe('unknown flag: --netwrk (did you mean network?)');
    expect(err.data).toMatchObject({ line: 3, column: 5, suggestion: 'network' });
    expect(err.data.endLine).toBeUndefined();
    const dup = lineFailure('COPY --from=a --link --from=b x y');
    expect(dup.message).toBe('duplicate flag specified: --from');
    expect(dup.column).toBe(22);
  });

  it('reports bad flag values with BuildKit’s words', () => {
    expect(message('COPY --link=maybe a b')).toBe('expecting boolean value for flag --link, not: maybe');
    expect(message('COPY --link= a b')).toBe('missing a value on flag: --link');
    expect(message('COPY --from a b')).toBe('missing a value on flag: --from');
    expect(message('COPY --exclude a b')).toBe('missing a value on flag: --exclude');
    expect(message('RUN --network=bridge true')).toBe('invalid network mode "bridge"');
    expect(message('RUN --security=privileged true')).toBe('security "privileged" is not valid');
    expect(message('ONBUILD --x RUN true')).toBe('unknown flag: --x');
  });

  it('is a LayerkitError with code and data', () => {
    const err = lineFailure('WORKDIR --x /a');
    expect(err).toBeInstanceOf(LayerkitError);
    expect(err.code).toBe('DOCKERFILE_SYNTAX');
    expect(err.toJSON().data).toMatchObject({ line: 2, column: 9, sourceLine: 'WORKDIR --x /a' });
  });

  it('rebuilds the source line from the node when no text is given', () => {
    const ast = parseDockerfile('FROM a\n   COPY --chwon=1 a b\n');
    try {
      parseInstruction(ast.children[1]!);
      throw new Error('expected failure');
    } catch (err) {
      expect((err as DockerfileSyntaxError).data).toMatchObject({ line: 2, column: 9, sourceLine: '   COPY --chwon=1 a b' });
    }
  });
});

describe('RUN --mount errors', () => {
  it.each([
    ['type=cach,target=/c', 'unsupported mount type "cach" (did you mean cache?)'],
    ['type=volume,target=/c', 'unsupported mount type "volume"'],
    ['type=cache,tagret=/c', "unexpected key 'tagret' in 'tagret=/c' (did you mean target?)"],
    ['type=cache,target=/c,sharing=lockd', 'unsupported sharing value "lockd" (did you mean locked?)'],
    ['type=cache,target', "invalid field 'target' must be a key=value pair"],
    ['type=bind,target=/c,required', "unexpected key 'required' for mount type 'bind'"],
    ['type=cache,size=1g', "unexpected key 'size' for mount type 'cache'"],
    ['type=tmpfs,size=lots', 'invalid value for size: lots'],
    ['type=bind,ro=maybe', 'invalid value for ro: maybe'],
    ['type=cache,target=/c,mode=0999', 'invalid value 0999 for mode'],
    ['type=cache,target=/c,uid=-1', 'invalid value -1 for uid'],
    ['type=cache,target=/c,gid=4294967296', 'invalid value 4294967296 for gid'],
    ['type=bind,target=/c,mode=0644', 'mode not allowed for "bind" type mounts'],
    ['type=tmpfs,target=/c,uid=0', 'uid not allowed for "tmpfs" type mounts'],
    ['type=secret', 'invalid secret mount. one of source, target required'],
    ['type=secret,id=a,from=b', 'secret mount should not have a from'],
    ['type=secret,id=a,sharing=shared', 'secret mount should not define sharing'],
    ['type=secret,id=a,source=b', "both source and id can't be set"],
    ['type=bind,target=/c,sharing=private', 'invalid cache sharing set for bind mount'],
    ['type=bind,from=$STAGE,target=/c', "'from' doesn't support variable expansion, define alias stage instead"],
    ['type=bind,tar"get=/c', 'failed to parse csv mounts: parse error on line 1, column 14: bare " in non-quoted-field'],
    ['"type=bind', 'failed to parse csv mounts: parse error on line 1, column 2: extraneous or missing " in quoted-field'],
  ])('%s', (spec, expected) => {
    const err = lineFailure(`RUN --mount='${spec}' true`);
    expect(err.message).toBe(expected);
    expect(err.column).toBe(5);
  });

  it('points at the offending one of several --mount flags', () => {
    const err = lineFailure('RUN --mount=type=cache,target=/a --mount=type=cahce,target=/b true');
    expect(err.message).toBe('unsupported mount type "cahce" (did you mean cache?)');
    expect(err.data).toMatchObject({ column: 34, suggestion: 'cache' });
  });

  it('an empty --mount is a CSV error', () => {
    expect(message('RUN --mount= true')).toBe('failed to parse csv mounts: EOF');
  });

  it('a variable at the very end of from= is let through, as BuildKit does', () => {
    expect(() => parseInstructions(parseDockerfile('FROM a\nRUN --mount=from=x$ true\n'))).not.toThrow();
  });

  it('device values are checked too', () => {
    expect(message('RUN --device=a,b true')).toBe("invalid field 'b' must be a key=value pair");
    expect(message('RUN --device=a,nmae=b true')).toBe("unexpected key 'nmae' in 'nmae=b' (did you mean name?)");
    expect(message('RUN --device=name=a,name=b true')).toBe('device name already set to a');
    expect(message('RUN --device=a,required=yes true')).toBe('invalid value for required: yes');
  });
});

describe('HEALTHCHECK value errors', () => {
  it.each([
    ['--interval=abc', 'time: invalid duration "abc"'],
    ['--interval=10', 'time: missing unit in duration "10"'],
    ['--timeout=5sec', 'time: unknown unit "sec" in duration "5sec"'],
    // BuildKit's flag splitter reads bytes as characters, so é reaches Go as "Ã©".
    ['--timeout=é', 'time: invalid duration "\\xc3\\x83\\xc2\\xa9"'],
    ['--interval=500us', 'Interval "interval" cannot be less than 1ms'],
    ['--start-period=-1s', 'Interval "start-period" cannot be less than 1ms'],
    ['--retries=-1', '--retries cannot be negative (-1)'],
    ['--retries=three', 'strconv.ParseInt: parsing "three": invalid syntax'],
    ['--retries=3000000000', 'strconv.ParseInt: parsing "3000000000": value out of range'],
  ])('%s', (flag, expected) => {
    const err = lineFailure(`HEALTHCHECK ${flag} CMD true`);
    expect(err.message).toBe(expected);
    expect(err.column).toBe(13);
  });
});

describe('stages', () => {
  it('refuses an instruction before the first FROM', () => {
    const err = failure('ARG A\nRUN echo\nFROM x\n');
    expect(err.message).toBe('no build stage in current context');
    expect(err.line).toBe(2);
  });

  it('refuses chained and forbidden ONBUILD triggers', () => {
    expect(failure('FROM a\nONBUILD ONBUILD RUN x\n').message).toBe("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    expect(failure('FROM a\nONBUILD FROM b\n').message).toBe("FROM isn't allowed as an ONBUILD trigger");
    expect(failure('FROM a\nonbuild maintainer me\n').message).toBe("MAINTAINER isn't allowed as an ONBUILD trigger");
  });
});

describe('hostile input', () => {
  const keyword = fc.constantFrom(
    'FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER',
    'WORKDIR', 'ARG', 'ONBUILD', 'ONBUILD RUN', 'STOPSIGNAL', 'HEALTHCHECK', 'HEALTHCHECK CMD', 'SHELL', 'FORM',
  );
  const flag = fc.constantFrom(
    '--mount=', '--mount=type=cache,', '--network=', '--security=', '--device=', '--from=', '--chown=', '--link',
    '--link=', '--parents', '--exclude=', '--checksum=', '--keep-git-dir', '--unpack=', '--interval=', '--retries=',
    '--platform=', '--bogus', '--',
  );
  const bit = fc.constantFrom(
    'a', '$X', '${X:-y}', '${X', '"q"', "'s'", '[', ']', '"', ',', '=', 'target=/x', 'id=$I', 'uid=1', 'mode=0755',
    'ro', 'required', 'secret', 'tmpfs', 'size=1m', '1s', '-1', 'AS', '\\', 'é', 'from=z', 'sharing=locked',
  );
  const word = fc.array(bit, { minLength: 1, maxLength: 3 }).map((b) => b.join(''));
  const line = fc
    .tuple(keyword, fc.array(fc.tuple(flag, fc.array(bit, { maxLength: 2 })), { maxLength: 2 }), fc.array(word, { maxLength: 3 }))
    .map(([k, flags, args]) => [k, ...flags.map(([f, v]) => f + v.join('')), ...args].join(' '));

  it('only ever fails with a typed, positioned error', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(line, { minLength: 1, maxLength: 4 }), (withFrom, lines) => {
        const text = (withFrom ? 'FROM x\n' : '') + lines.join('\n') + '\n';
        let parsed;
        try {
          parsed = parseInstructions(parseDockerfile(text, { strict: false }), { source: text });
        } catch (err) {
          expect(err).toBeInstanceOf(DockerfileSyntaxError);
          expect((err as DockerfileSyntaxError).line).toBeGreaterThanOrEqual(1);
          return;
        }
        for (const stage of parsed.stages) {
          for (const instruction of stage.instructions) {
            try {
              expandInstruction(instruction, new ShellLex(), { X: 'v', I: 'id' });
            } catch (err) {
              expect(err instanceof ShellExpansionError || err instanceof DockerfileSyntaxError).toBe(true);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('case mapping is Go 1.19’s (Unicode 13), whatever Node runs', () => {
  it('upper-cases the HEALTHCHECK type with simple mappings only', () => {
    // strings.ToUpper maps ᾀ (U+1F80) to ᾈ (U+1F88); JavaScript's toUpperCase gives two characters.
    expect(message('HEALTHCHECK \u1f80 true')).toBe('Unknown type "\u1f88" in HEALTHCHECK (try CMD)');
  });

  it('does not upper-case letters that became cased after Unicode 13', () => {
    // ƛ (U+019B) gained an upper case (U+A7DC) in Unicode 16: Go 1.19 keeps it as it is.
    expect(message('HEALTHCHECK \u019b true')).toBe('Unknown type "\u019b" in HEALTHCHECK (try CMD)');
  });
});
