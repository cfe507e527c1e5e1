import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DockerfileSyntaxError } from '../../src/dockerfile/errors.js';
import { parseDockerfile } from '../../src/dockerfile/syntax/index.js';
import { ShellExpansionError, ShellLex } from '../../src/dockerfile/shell/index.js';
import {
  expandInstruction,
  parseInstructions,
  type Instruction,
  type InstructionKind,
} from '../../src/dockerfile/index.js';

const lex = new ShellLex();

function one<K extends InstructionKind>(kind: K, line: string, escape = ''): Extract<Instruction, { kind: K }> {
  const text = `${escape}FROM scratch\n${line}\n`;
  const instruction = parseInstructions(parseDockerfile(text)).stages[0]!.instructions[0]!;
  expect(instruction.kind).toBe(kind);
  return instruction as Extract<Instruction, { kind: K }>;
}

const ENV = { APP: 'web', HOME: '/root', PORTS: '80 443', UID: '1000', EMPTY: '', Q: 'a "b"' };

describe('expandInstruction', () => {
  it('expands FROM image and platform', () => {
    const { stages } = parseInstructions(parseDockerfile('FROM --platform=$P alpine:${V:-3}\n'));
    expect(expandInstruction(stages[0]!.from, lex, { P: 'linux/arm64' })).toMatchObject({
      image: 'alpine:3',
      platform: 'linux/arm64',
    });
  });

  it('expands ENV and LABEL keys and values, quotes processed', () => {
    expect(expandInstruction(one('env', 'ENV DIR=$HOME/$APP MSG="hello $APP" ${APP}_PORT=1'), lex, ENV).env).toEqual([
      { key: 'DIR', value: '/root/web', legacy: false },
      { key: 'MSG', value: 'hello web', legacy: false },
      { key: 'web_PORT', value: '1', legacy: false },
    ]);
    expect(expandInstruction(one('label', "LABEL app=$APP 'raw'='$APP'"), lex, ENV).labels).toEqual([
      { key: 'app', value: 'web', legacy: false },
      { key: 'raw', value: '$APP', legacy: false },
    ]);
  });

  it('expands COPY and ADD paths and string flags, not --exclude', () => {
    const copy = expandInstruction(
      one('copy', 'COPY --chown=$UID:$UID --chmod=${MODE:-644} --exclude=$APP/*.md $APP/dist /srv/$APP/'),
      lex,
      ENV,
    );
    expect(copy).toMatchObject({ chown: '1000:1000', chmod: '644', sources: ['web/dist'], dest: '/srv/web/', exclude: ['$APP/*.md'] });
    const add = expandInstruction(one('add', 'ADD --checksum=$SUM https://e.com/$APP.tgz /opt/'), lex, { ...ENV, SUM: 'sha256:ab' });
    expect(add).toMatchObject({ checksum: 'sha256:ab', sources: ['https://e.com/web.tgz'], dest: '/opt/' });
    // An expansion to "" means "not given", as BuildKit's empty string does.
    expect(expandInstruction(one('copy', 'COPY --chown=$EMPTY a b'), lex, ENV).chown).toBeUndefined();
  });

  it('expands heredoc bodies the raw way: quotes kept, only unquoted delimiters', () => {
    const copy = one('copy', "COPY <<EOF <<'KEEP' /etc/\nname=\"$APP\" \\$HOME\nEOF\nname=$APP\nKEEP\n");
    const out = expandInstruction(copy, lex, ENV);
    expect(out.heredocs).toEqual([
      { path: 'EOF', content: 'name="web" $HOME\n', expand: true },
      { path: 'KEEP', content: 'name=$APP\n', expand: false },
    ]);
  });

  it('the raw heredoc expansion always uses \\ as escape, whatever the Dockerfile uses', () => {
    const copy = one('copy', 'COPY <<EOF /x\n\\$APP `$APP\nEOF\n', '# escape=`\n');
    expect(expandInstruction(copy, new ShellLex({ escapeToken: '`' }), ENV).heredocs[0]!.content).toBe('$APP `web\n');
  });

  it('expands WORKDIR, USER, STOPSIGNAL, VOLUME, and splits EXPOSE', () => {
    expect(expandInstruction(one('workdir', 'WORKDIR $HOME/${APP}'), lex, ENV).path).toBe('/root/web');
    expect(expandInstruction(one('user', 'USER ${UID}:${GID:-0}'), lex, ENV).user).toBe('1000:0');
    expect(expandInstruction(one('stopsignal', 'STOPSIGNAL ${SIG:-SIGQUIT}'), lex, ENV).signal).toBe('SIGQUIT');
    expect(expandInstruction(one('volume', 'VOLUME ["$HOME/data", "/logs/$APP"]'), lex, ENV).volumes).toEqual([
      '/root/data',
      '/logs/web',
    ]);
    expect(expandInstruction(one('expose', 'EXPOSE $PORTS 8080/tcp'), lex, ENV).ports).toEqual(['80', '443', '8080/tcp']);
  });

  it('expands ARG defaults but not names', () => {
    const arg = expandInstruction(one('arg', 'ARG DIR=$HOME/x $APP NOVALUE'), lex, ENV);
    expect(arg.args).toEqual([{ key: 'DIR', value: '/root/x' }, { key: '$APP' }, { key: 'NOVALUE' }]);
  });

  it('re-reads RUN mounts with their values expanded, and leaves the command alone', () => {
    const run = one('run', 'RUN --mount=type=$T,target=$HOME/.cache,uid=$UID,id=$APP echo $APP');
    expect(run.mounts[0]!.unexpanded).toEqual(['type', 'target', 'uid', 'id']);
    const out = expandInstruction(run, lex, { ...ENV, T: 'cache' });
    expect(out.mounts).toEqual([{ type: 'cache', target: '/root/.cache', uid: 1000, id: 'web', readOnly: false, required: false }]);
    expect(out.command).toEqual({ shell: 'echo $APP' });
    expect(run.mounts[0]!.type).toBe('bind');
  });

  it('leaves instructions the builder does not expand untouched', () => {
    for (const [kind, line] of [
      ['cmd', 'CMD echo $APP'],
      ['entrypoint', 'ENTRYPOINT ["$APP"]'],
      ['shell', 'SHELL ["/bin/$APP"]'],
      ['healthcheck', 'HEALTHCHECK CMD $APP'],
      ['maintainer', 'MAINTAINER $APP'],
      ['onbuild', 'ONBUILD RUN $APP'],
    ] as const) {
      const instruction = one(kind, line);
      expect(expandInstruction(instruction, lex, ENV)).toBe(instruction);
    }
  });

  it('collects matched and unmatched names', () => {
    const matched = new Set<string>();
    const unmatched = new Set<string>();
    expandInstruction(one('workdir', 'WORKDIR /$APP/${NOPE:-x}/$ALSO_NOPE'), lex, ENV, { matched, unmatched });
    expandInstruction(one('expose', 'EXPOSE $PORTS $MISSING'), lex, ENV, { matched, unmatched });
    expect([...matched].sort()).toEqual(['APP', 'PORTS']);
    expect([...unmatched].sort()).toEqual(['ALSO_NOPE', 'MISSING', 'NOPE']);
  });

  it('does not change its input', () => {
    const env = one('env', 'ENV A=$APP');
    const before = structuredClone(env);
    expandInstruction(env, lex, ENV);
    expect(env).toEqual(before);
  });

  it('reports a failed word with the instruction’s position', () => {
    const workdir = one('workdir', 'WORKDIR ${APP:?must be set}');
    try {
      expandInstruction(workdir, lex, {});
      throw new Error('expected failure');
    } catch (err) {
      expect(err).toBeInstanceOf(ShellExpansionError);
      expect((err as ShellExpansionError).data).toMatchObject({ line: 2, column: 1, reason: 'unset-variable', variable: 'APP' });
      expect((err as Error).message).toBe('failed to process "${APP:?must be set}": APP: must be set');
    }
  });

  it('reports mounts that are invalid once expanded, and --from with variables', () => {
    const run = one('run', 'RUN --mount=type=$T,target=/x true');
    try {
      expandInstruction(run, lex, { T: 'cahce' });
      throw new Error('expected failure');
    } catch (err) {
      expect(err).toBeInstanceOf(DockerfileSyntaxError);
      expect((err as DockerfileSyntaxError).message).toBe('unsupported mount type "cahce" (did you mean cache?)');
      expect((err as DockerfileSyntaxError).data).toMatchObject({ line: 2, column: 1 });
    }
    const copy = one('copy', 'COPY --from=$STAGE a b');
    expect(() => expandInstruction(copy, lex, { STAGE: 'x' })).toThrowError(/variable expansion is not supported for --from/);
    expect(() => expandInstruction(one('copy', 'COPY --from=build a b'), lex, {})).not.toThrow();
  });

  it('paths without variables, quotes or escapes come back unchanged', () => {
    const word = fc.stringMatching(/^[a-z0-9][a-z0-9/._-]{0,7}$/);
    fc.assert(
      fc.property(fc.array(word, { minLength: 2, maxLength: 5 }), (parts) => {
        const copy = one('copy', `COPY ${parts.join(' ')}`);
        const out = expandInstruction(copy, lex, {});
        expect([...out.sources, out.dest]).toEqual(parts);
      }),
      { numRuns: 50 },
    );
  });
});
