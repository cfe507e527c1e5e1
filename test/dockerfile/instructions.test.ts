import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseDockerfile } from '../../src/dockerfile/syntax/index.js';
import type { InstructionNode } from '../../src/dockerfile/syntax/node.js';
import {
  parseInstruction,
  parseInstructions,
  type Instruction,
  type InstructionKind,
} from '../../src/dockerfile/index.js';

function parse(text: string) {
  return parseInstructions(parseDockerfile(text), { source: text });
}

/** The typed instruction of `line`, read inside a stage. */
function one<K extends InstructionKind>(kind: K, line: string): Extract<Instruction, { kind: K }> {
  const text = `FROM scratch\n${line}\n`;
  const instruction = parse(text).stages[0]!.instructions[0]!;
  expect(instruction.kind).toBe(kind);
  return instruction as Extract<Instruction, { kind: K }>;
}

/** A node as the parser would build it, for shapes its text form cannot produce. */
function node(keyword: string, args: string[], extra: Partial<InstructionNode> = {}): InstructionNode {
  const original = `${keyword.toUpperCase()} ${args.join(' ')}`;
  return {
    keyword,
    rawKeyword: keyword.toUpperCase(),
    original,
    flags: [],
    args,
    json: false,
    heredocs: [],
    comments: [],
    startLine: 1,
    endLine: 1,
    range: { start: { line: 1, column: 1 }, end: { line: 1, column: original.length } },
    segments: [{ offset: 0, line: 1, column: 1 }],
    ...extra,
  };
}

describe('stages', () => {
  it('groups instructions under each FROM, with meta ARGs apart', () => {
    const { stages, metaArgs } = parse(
      '# version\nARG VERSION=3.20\nARG FLAVOR\n# builder compiles things\nFROM alpine:$VERSION AS Builder\nRUN make\n' +
        'FROM --platform=linux/arm64 scratch\nCOPY --from=builder /out /\n',
    );
    expect(metaArgs.map((a) => a.args)).toEqual([[{ key: 'VERSION', value: '3.20' }], [{ key: 'FLAVOR' }]]);
    expect(stages).toHaveLength(2);
    expect(stages[0]).toMatchObject({ index: 0, name: 'builder', baseImage: 'alpine:$VERSION', docComment: 'compiles things' });
    expect(stages[0]!.instructions.map((i) => i.kind)).toEqual(['run']);
    expect(stages[0]!.location.start).toEqual({ line: 5, column: 1 });
    expect(stages[1]).toMatchObject({ index: 1, baseImage: 'scratch', platform: 'linux/arm64' });
    expect(stages[1]!.name).toBeUndefined();
    expect(stages[1]!.from.kind).toBe('from');
  });

  it('keeps ARGs after the first FROM inside the stage', () => {
    const { stages, metaArgs } = parse('ARG A\nFROM x\nARG B\n');
    expect(metaArgs).toHaveLength(1);
    expect(stages[0]!.instructions[0]).toMatchObject({ kind: 'arg', args: [{ key: 'B' }] });
  });

  it('records location, keyword as written, trimmed original text, comments and raw flags', () => {
    const run = one('run', '# first\n# second\nrun   --network=host \\\n  echo hi   ');
    expect(run).toMatchObject({
      keyword: 'run',
      original: 'run   --network=host   echo hi',
      startLine: 4,
      endLine: 5,
      comments: ['first', 'second'],
      flags: ['--network=host'],
    });
    expect(run.range.start).toEqual({ line: 4, column: 1 });
  });
});

describe('FROM', () => {
  it('reads the image, the lowercased stage name and the platform', () => {
    const { stages } = parse('FROM --platform=$BUILDPLATFORM golang:1.22 as Build-Env_1.x\n');
    expect(stages[0]!.from).toMatchObject({ image: 'golang:1.22', stageName: 'build-env_1.x', platform: '$BUILDPLATFORM' });
  });

  it('accepts AS in any case Go folds to it, including the long s', () => {
    for (const as of ['AS', 'as', 'As', 'aS', 'aſ']) {
      expect(parse(`FROM img ${as} name\n`).stages[0]!.name).toBe('name');
    }
  });
});

describe('RUN, CMD, ENTRYPOINT, SHELL', () => {
  it('distinguishes shell and exec form', () => {
    expect(one('run', 'RUN echo "$HOME" && ls').command).toEqual({ shell: 'echo "$HOME" && ls' });
    expect(one('run', 'RUN ["echo", "hi"]').command).toEqual({ exec: ['echo', 'hi'] });
    expect(one('cmd', 'CMD ["nginx", "-g", "daemon off;"]').command).toEqual({ exec: ['nginx', '-g', 'daemon off;'] });
    expect(one('entrypoint', 'ENTRYPOINT exec top -b').command).toEqual({ shell: 'exec top -b' });
    expect(one('entrypoint', 'ENTRYPOINT []').command).toEqual({ exec: [] });
    // A bare keyword is shell form with no command string.
    expect(one('cmd', 'CMD').command).toEqual({ shell: '' });
    expect(one('shell', 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]').shell).toEqual(['/bin/bash', '-o', 'pipefail', '-c']);
  });

  it('keeps heredocs as inline files, unchomped, with their chomp flag', () => {
    const run = one('run', 'RUN <<EOF bash\n\techo $X\nEOF\n');
    expect(run.command).toEqual({ shell: '<<EOF bash' });
    expect(run.heredocs).toEqual([{ name: 'EOF', content: '\techo $X\n', chomp: false }]);
    expect(one('run', 'RUN <<-EOT\n\tx\n\tEOT').heredocs).toEqual([{ name: 'EOT', content: '\tx\n', chomp: true }]);
  });

  it('defaults network and security and lists the flags used', () => {
    expect(one('run', 'RUN true')).toMatchObject({ network: 'default', security: 'sandbox', mounts: [], devices: [], flagsUsed: [] });
    const run = one('run', 'RUN --security=insecure --network=none true');
    expect(run).toMatchObject({ network: 'none', security: 'insecure', flagsUsed: ['security', 'network'] });
    expect(one('run', 'RUN --network=host true').network).toBe('host');
  });

  it('reads --device values', () => {
    const run = one('run', 'RUN --device=vendor.com/gpu=all,required --device=name=x.com/y=1,required=false true');
    expect(run.devices).toEqual([
      { name: 'vendor.com/gpu=all', required: true },
      { name: 'x.com/y=1', required: false },
    ]);
  });
});

describe('RUN --mount', () => {
  const mount = (spec: string) => one('run', `RUN --mount=${spec} true`).mounts[0]!;

  it('reads every mount type with its defaults', () => {
    expect(mount('target=/src')).toEqual({ type: 'bind', target: '/src', readOnly: true, required: false });
    expect(mount('type=bind,from=build,source=/out,dst=/in,rw')).toEqual({
      type: 'bind', from: 'build', source: '/out', target: '/in', readOnly: false, required: false,
    });
    expect(mount('type=cache,target=/root/.cache,id=go,sharing=locked,mode=0755,uid=1000,gid=1000')).toEqual({
      type: 'cache', target: '/root/.cache', id: 'go', sharing: 'locked', mode: 0o755, uid: 1000, gid: 1000,
      readOnly: false, required: false,
    });
    expect(mount('type=tmpfs,destination=/tmp,size=64m')).toEqual({
      type: 'tmpfs', target: '/tmp', sizeLimit: 64 * 1024 * 1024, readOnly: false, required: false,
    });
    expect(mount('type=secret,id=npmrc,target=/root/.npmrc,required,env=NPM_TOKEN')).toEqual({
      type: 'secret', id: 'npmrc', target: '/root/.npmrc', required: true, env: 'NPM_TOKEN', readOnly: true,
    });
    expect(mount('type=ssh,required=true,mode=0600')).toEqual({ type: 'ssh', required: true, mode: 0o600, readOnly: true });
  });

  it('takes keys and the type in any case, and readonly/readwrite with boolean values', () => {
    expect(mount('TYPE=Cache,Target=/c,ReadOnly=true')).toMatchObject({ type: 'cache', target: '/c', readOnly: true });
    expect(mount('type=bind,target=/x,readwrite=1')).toMatchObject({ readOnly: false });
    expect(mount('type=bind,target=/x,ro=F')).toMatchObject({ readOnly: false });
  });

  it('reads CSV quoting', () => {
    expect(one('run', `RUN --mount='type=bind,"target=/a,b",source=x' true`).mounts[0]).toMatchObject({ target: '/a,b', source: 'x' });
  });

  it('leaves values with variables for expansion, checking what it can', () => {
    const m = mount('type=cache,target=$HOME/.cache,uid=$UID');
    expect(m).toEqual({ type: 'cache', target: '$HOME/.cache', readOnly: false, required: false, unexpanded: ['target', 'uid'] });
    const deferredType = mount('type=$T,target=/x');
    expect(deferredType.unexpanded).toEqual(['type']);
    expect(one('run', 'RUN --mount=type=cache,target=/a --mount=type=tmpfs,target=/b true').mountSpecs).toEqual([
      'type=cache,target=/a',
      'type=tmpfs,target=/b',
    ]);
  });
});

describe('COPY and ADD', () => {
  it('reads sources, destination and every COPY flag', () => {
    const copy = one(
      'copy',
      'COPY --from=build --chown=app:app --chmod=0644 --link --parents --exclude=*.md --exclude=.git a b/ /dst/',
    );
    expect(copy).toMatchObject({
      sources: ['a', 'b/'],
      dest: '/dst/',
      from: 'build',
      chown: 'app:app',
      chmod: '0644',
      link: true,
      parents: true,
      exclude: ['*.md', '.git'],
      heredocs: [],
    });
    const plain = one('copy', 'COPY ["a b", "/c"]');
    expect(plain).toMatchObject({ sources: ['a b'], dest: '/c', link: false, parents: false, exclude: [] });
    expect(plain.from).toBeUndefined();
    expect(plain.chown).toBeUndefined();
  });

  it('reads bool flags as BuildKit does: bare, =true, =false, any case', () => {
    expect(one('copy', 'COPY --link a b').link).toBe(true);
    expect(one('copy', 'COPY --link=true a b').link).toBe(true);
    expect(one('copy', 'COPY --link=TRUE a b').link).toBe(true);
    expect(one('copy', 'COPY --link=false a b').link).toBe(false);
    expect(one('copy', 'COPY --link=False a b').link).toBe(false);
  });

  it('reads every ADD flag, leaving unset tri-state flags undefined', () => {
    const add = one(
      'add',
      'ADD --chown=1:2 --chmod=755 --link --keep-git-dir --checksum=sha256:24454f83 --unpack=false --exclude=x https://e.com/a.tar /opt/',
    );
    expect(add).toMatchObject({
      sources: ['https://e.com/a.tar'], dest: '/opt/', chown: '1:2', chmod: '755', link: true,
      keepGitDir: true, checksum: 'sha256:24454f83', unpack: false, exclude: ['x'],
    });
    const bare = one('add', 'ADD a.tar /');
    expect(bare.keepGitDir).toBeUndefined();
    expect(bare.unpack).toBeUndefined();
    expect(one('add', 'ADD --keep-git-dir=false --unpack g /').keepGitDir).toBe(false);
    expect(one('add', 'ADD --unpack g /').unpack).toBe(true);
  });

  it('turns heredoc sources into contents, chomped for <<-, unexpanded when quoted', () => {
    const copy = one('copy', "COPY <<-EOF <<'RAW' plain /etc/\n\tindented $A\n\tEOF\nkeep $B\nRAW\n");
    expect(copy.sources).toEqual(['plain']);
    expect(copy.dest).toBe('/etc/');
    expect(copy.heredocs).toEqual([
      { path: 'EOF', content: 'indented $A\n', expand: true },
      { path: 'RAW', content: 'keep $B\n', expand: false },
    ]);
  });
});

describe('ENV, LABEL, ARG', () => {
  it('reads key=value pairs and the legacy form', () => {
    expect(one('env', 'ENV A=1 B="two words" C=').env).toEqual([
      { key: 'A', value: '1', legacy: false },
      { key: 'B', value: '"two words"', legacy: false },
      { key: 'C', value: '', legacy: false },
    ]);
    expect(one('env', 'ENV PATH /usr/local/bin:$PATH more').env).toEqual([
      { key: 'PATH', value: '/usr/local/bin:$PATH more', legacy: true },
    ]);
    expect(one('label', 'LABEL org.opencontainers.image.title="My app" version=1').labels).toEqual([
      { key: 'org.opencontainers.image.title', value: '"My app"', legacy: false },
      { key: 'version', value: '1', legacy: false },
    ]);
    expect(one('label', 'LABEL maintainer me@example.com').labels).toEqual([
      { key: 'maintainer', value: 'me@example.com', legacy: true },
    ]);
  });

  it('reads ARG names, defaults and doc comments', () => {
    const arg = one('arg', '# NODE the node version\n# OTHER ignored\nARG NODE=20 EMPTY= BARE');
    expect(arg.args).toEqual([
      { key: 'NODE', value: '20', docComment: 'the node version' },
      { key: 'EMPTY', value: '' },
      { key: 'BARE' },
    ]);
    expect(one('arg', 'ARG A=b=c').args).toEqual([{ key: 'A', value: 'b=c' }]);
  });
});

describe('the other instructions', () => {
  it('MAINTAINER, USER, WORKDIR, STOPSIGNAL take one argument', () => {
    expect(one('maintainer', 'MAINTAINER Jane <jane@example.com>').maintainer).toBe('Jane <jane@example.com>');
    expect(one('user', 'USER app:app').user).toBe('app:app');
    expect(one('workdir', 'WORKDIR /srv/$APP').path).toBe('/srv/$APP');
    expect(one('stopsignal', 'STOPSIGNAL SIGTERM').signal).toBe('SIGTERM');
  });

  it('STOPSIGNAL and ARG ignore flags, as BuildKit never reads them', () => {
    expect(one('stopsignal', 'STOPSIGNAL --bogus=1 9').signal).toBe('9');
    expect(one('arg', 'ARG --bogus X').args).toEqual([{ key: 'X' }]);
  });

  it('EXPOSE sorts its ports in code point order', () => {
    expect(one('expose', 'EXPOSE 8080 443/tcp 80 53/udp').ports).toEqual(['443/tcp', '53/udp', '80', '8080']);
  });

  it('VOLUME trims each path, in either form', () => {
    expect(one('volume', 'VOLUME /data /logs').volumes).toEqual(['/data', '/logs']);
    expect(one('volume', 'VOLUME [" /data ", "/b"]').volumes).toEqual(['/data', '/b']);
  });

  it('HEALTHCHECK reads NONE, CMD in both forms, and durations as Go parses them', () => {
    expect(one('healthcheck', 'HEALTHCHECK NONE')).toMatchObject({ test: ['NONE'], interval: 0, retries: 0 });
    expect(one('healthcheck', 'HEALTHCHECK --interval=5m --timeout=3s CMD curl -f http://localhost/ || exit 1')).toMatchObject({
      test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'],
      interval: 300e9,
      timeout: 3e9,
      startPeriod: 0,
      startInterval: 0,
      retries: 0,
    });
    expect(
      one('healthcheck', 'HEALTHCHECK --start-period=1.5s --start-interval=250ms --retries=+7 cmd ["/bin/check", "-q"]'),
    ).toMatchObject({ test: ['CMD', '/bin/check', '-q'], startPeriod: 1.5e9, startInterval: 250e6, retries: 7 });
    expect(one('healthcheck', 'HEALTHCHECK --interval=0 --timeout=1h2m3.5s CMD x')).toMatchObject({
      interval: 0,
      timeout: 3723.5e9,
    });
    // NONE reads no flags at all.
    expect(one('healthcheck', 'HEALTHCHECK --interval=nonsense NONE').test).toEqual(['NONE']);
  });

  it('ONBUILD keeps its trigger parsed and its expression as BuildKit stores it', () => {
    const onbuild = one('onbuild', 'ONBUILD   COPY --chown=1 . /app');
    expect(onbuild.expression).toBe('COPY --chown=1 . /app');
    expect(onbuild.trigger).toMatchObject({ kind: 'copy', chown: '1', sources: ['.'], dest: '/app' });
    expect(onbuild.triggerError).toBeUndefined();

    const withHeredoc = one('onbuild', 'ONBUILD RUN <<EOF\necho hi\nEOF');
    expect(withHeredoc.expression).toBe('RUN <<EOF\necho hi\nEOF');
    expect(withHeredoc.trigger).toMatchObject({ kind: 'run', heredocs: [{ name: 'EOF', content: 'echo hi\n' }] });
  });

  it('ONBUILD with a trigger BuildKit would only reject later keeps the error beside it', () => {
    const onbuild = one('onbuild', 'ONBUILD RUN --bogus true');
    expect(onbuild.trigger).toBeUndefined();
    expect(onbuild.triggerError?.message).toBe('unknown flag: --bogus');
  });
});

describe('nodes built by hand', () => {
  it('parseInstruction works on any node, without the source text', () => {
    const copy = parseInstruction(node('copy', ['a', '/b'], { flags: ['--chmod=600'] }));
    expect(copy).toMatchObject({ kind: 'copy', sources: ['a'], dest: '/b', chmod: '600' });
  });
});

describe('flag laws', () => {
  const boolValue = fc.constantFrom('', '=true', '=false', '=TRUE', '=False', '=tRuE');
  it('a bool flag is true unless its value is false in any case', () => {
    fc.assert(
      fc.property(boolValue, boolValue, (link, parents) => {
        const copy = parseInstruction(node('copy', ['a', 'b'], { flags: [`--link${link}`, `--parents${parents}`] }));
        if (copy.kind !== 'copy') throw new Error('expected copy');
        expect(copy.link).toBe(!/false/i.test(link));
        expect(copy.parents).toBe(!/false/i.test(parents));
      }),
    );
  });

  it('the order of distinct flags does not change the result', () => {
    const flags = ['--from=build', '--chown=1:1', '--chmod=700', '--link', '--parents', '--exclude=a', '--exclude=b'];
    const reference = parseInstruction(node('copy', ['x', '/y'], { flags }));
    fc.assert(
      fc.property(fc.shuffledSubarray(flags, { minLength: flags.length, maxLength: flags.length }), (shuffled) => {
        // --exclude keeps its own order; the others are order-free.
        const excludesInOrder = shuffled.filter((f) => f.startsWith('--exclude'));
        const copy = parseInstruction(node('copy', ['x', '/y'], { flags: shuffled }));
        const { flags: _ignored, ...rest } = copy as Instruction & { flags: unknown };
        const { flags: _ref, ...expected } = reference as Instruction & { flags: unknown };
        expect({ ...rest, exclude: [] }).toEqual({ ...expected, exclude: [] });
        expect((copy as { exclude: string[] }).exclude).toEqual(excludesInOrder.map((f) => f.slice('--exclude='.length)));
      }),
    );
  });

  it('a bare -- ends the flags', () => {
    const copy = parseInstruction(node('copy', ['a', 'b'], { flags: ['--link', '--', '--anything'] }));
    expect(copy).toMatchObject({ link: true });
  });
});
