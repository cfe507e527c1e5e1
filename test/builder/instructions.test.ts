import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/builder/errors.js';
import { buildText, layerMembers, layerPaths, readText, rootfs } from './helpers.js';

const EPOCH = 1700000000;
const CREATED = '2023-11-14T22:13:20Z';
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

async function configOf(dockerfile: string | undefined, files = {}, options = {}) {
  const result = await buildText(dockerfile, files, options);
  return { result, config: await result.image.config(), layers: await result.image.layers() };
}

function createdBy(config: { history?: Array<{ created_by?: string; empty_layer?: boolean }> }) {
  return (config.history ?? []).map((h) => `${h.created_by}${h.empty_layer ? ' (empty)' : ''}`);
}

describe('metadata instructions', () => {
  it('ENV sets Env (replacing in place), adds the default PATH, and records BuildKit history text', async () => {
    const { config, layers } = await configOf('FROM scratch\nENV A=1 B="two words"\nENV A=3\n');
    expect(config.config?.Env).toEqual([DEFAULT_PATH, 'A=3', 'B=two words']);
    expect(createdBy(config)).toEqual(['ENV A=1 B=two words (empty)', 'ENV A=3 (empty)']);
    expect(layers).toHaveLength(0);
    expect(config.created).toBe(CREATED);
    for (const h of config.history ?? []) {
      expect(h.created).toBe(CREATED);
      expect(h.comment).toBe('buildkit.dockerfile.v0');
    }
  });

  it('ENV expands against earlier values and ARGs, never its own line', async () => {
    const { config } = await configOf('FROM scratch\nARG V=1\nENV A=$V\nENV A=x B=$A\n', {}, { buildArgs: { V: '7' } });
    expect(config.config?.Env).toContain('A=x');
    expect(config.config?.Env).toContain('B=7');
    expect(config.config?.Env?.some((e) => e.startsWith('V='))).toBe(false);
    expect(createdBy(config)[0]).toBe('ARG V=7 (empty)');
  });

  it('LABEL, EXPOSE, USER, VOLUME, STOPSIGNAL, SHELL, MAINTAINER', async () => {
    const { config } = await configOf(
      [
        'FROM scratch',
        'ARG PORTS="80 9000-9001/udp"',
        'LABEL a=1 "b c"=2',
        'EXPOSE 8080 $PORTS',
        'USER app:staff',
        'VOLUME ["/data", "/logs"]',
        'STOPSIGNAL SIGQUIT',
        'SHELL ["/bin/bash", "-eu", "-c"]',
        'CMD echo hi',
        'MAINTAINER someone',
      ].join('\n'),
    );
    const c = config.config!;
    expect(c.Labels).toEqual({ a: '1', 'b c': '2' });
    expect(c.ExposedPorts).toEqual({ '8080/tcp': {}, '80/tcp': {}, '9000/udp': {}, '9001/udp': {} });
    expect(c.User).toBe('app:staff');
    expect(c.Volumes).toEqual({ '/data': {}, '/logs': {} });
    expect(c.StopSignal).toBe('SIGQUIT');
    expect(c.Shell).toEqual(['/bin/bash', '-eu', '-c']);
    expect(c.Cmd).toEqual(['/bin/bash', '-eu', '-c', 'echo hi']);
    expect(config.author).toBe('someone');
    expect(createdBy(config)).toEqual([
      'ARG PORTS=80 9000-9001/udp (empty)',
      'LABEL a=1 b c=2 (empty)',
      // The parser sorts the words as written (`$PORTS` before `8080`), as BuildKit does.
      'EXPOSE [80/tcp 9000/udp 9001/udp 8080/tcp] (empty)',
      'USER app:staff (empty)',
      'VOLUME [/data /logs] (empty)',
      'STOPSIGNAL SIGQUIT (empty)',
      'SHELL [/bin/bash -eu -c] (empty)',
      'CMD ["/bin/bash" "-eu" "-c" "echo hi"] (empty)',
      'MAINTAINER someone (empty)',
    ]);
  });

  it('CMD and ENTRYPOINT: exec form as is, shell form wrapped; Go %q quoting in history', async () => {
    const { config } = await configOf('FROM scratch\nENTRYPOINT ["/app", "say \\"hi\\""]\nCMD ["--x"]\n');
    expect(config.config?.Entrypoint).toEqual(['/app', 'say "hi"']);
    expect(config.config?.Cmd).toEqual(['--x']);
    expect(config.config?.ArgsEscaped).toBe(true);
    expect(createdBy(config)).toEqual(['ENTRYPOINT ["/app" "say \\"hi\\""] (empty)', 'CMD ["--x"] (empty)']);
  });

  it('ENTRYPOINT drops an inherited CMD but keeps a CMD set earlier in the same stage', async () => {
    const inherited = await configOf('FROM scratch AS base\nCMD ["base"]\nFROM base\nENTRYPOINT ["/e"]\n');
    expect(inherited.config.config?.Entrypoint).toEqual(['/e']);
    expect(inherited.config.config?.Cmd).toBeUndefined();
    const same = await configOf('FROM scratch\nCMD ["keep"]\nENTRYPOINT ["/e"]\n');
    expect(same.config.config?.Cmd).toEqual(['keep']);
  });

  it('HEALTHCHECK stores nanoseconds and prints Go durations', async () => {
    const { config } = await configOf('FROM scratch\nHEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD curl -f http://x/\n');
    expect(config.config?.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'curl -f http://x/'], Interval: 30e9, Timeout: 90e9, Retries: 3 });
    expect(createdBy(config)).toEqual([
      'HEALTHCHECK {Test:[CMD-SHELL curl -f http://x/] Interval:30s Timeout:1m30s StartPeriod:0s StartInterval:0s Retries:3} (empty)',
    ]);
  });

  it('STOPSIGNAL with an unknown signal is a positioned error', async () => {
    const err = await buildText('FROM scratch\n\nSTOPSIGNAL SIGNOPE\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).code).toBe('INVALID_INSTRUCTION');
    expect((err as BuildError).data).toMatchObject({ line: 3, column: 1, instruction: 'STOPSIGNAL SIGNOPE' });
  });

  it('ONBUILD is stored in the config and (as in BuildKit) makes no history entry', async () => {
    const { config } = await configOf('FROM scratch\nONBUILD COPY a /a\nONBUILD RUN echo hi\n');
    expect(config.config?.OnBuild).toEqual(['COPY a /a', 'RUN echo hi']);
    expect(config.history ?? []).toEqual([]);
  });

  it('build options: labels are merged in, platform sets the config platform, created follows the epoch', async () => {
    const { config } = await configOf('FROM scratch\nLABEL a=1\n', {}, { labels: { b: '2' }, platform: 'linux/arm64', sourceDateEpoch: 86400 });
    expect(config.config?.Labels).toEqual({ a: '1', b: '2' });
    expect(config.architecture).toBe('arm64');
    expect(config.os).toBe('linux');
    expect(config.created).toBe('1970-01-02T00:00:00Z');
  });
});

describe('WORKDIR', () => {
  it('creates the directory (0755, current USER) in its own layer, relative paths below the current one', async () => {
    const { config, layers } = await configOf('FROM scratch\nWORKDIR /srv\nUSER 1000\nWORKDIR app/data\n');
    expect(config.config?.WorkingDir).toBe('/srv/app/data');
    expect(layers).toHaveLength(2);
    expect(createdBy(config)).toEqual(['WORKDIR /srv', 'USER 1000 (empty)', 'WORKDIR /srv/app/data']);
    const second = await layerMembers(layers[1]!);
    expect(second.map((m) => [m.path, m.type, m.mode, m.uid, m.gid, m.mtime])).toEqual([
      ['/srv', 'dir', 0o755, 0, 0, EPOCH],
      ['/srv/app', 'dir', 0o755, 1000, 1000, EPOCH],
      ['/srv/app/data', 'dir', 0o755, 1000, 1000, EPOCH],
    ]);
  });

  it('makes no layer when the directory exists', async () => {
    const { config, layers } = await configOf('FROM scratch\nCOPY a /srv/a\nWORKDIR /srv\nWORKDIR /\n', { a: 'x' });
    expect(layers).toHaveLength(1);
    expect(createdBy(config)).toEqual(['COPY a /srv/a # buildkit', 'WORKDIR /srv (empty)', 'WORKDIR / (empty)']);
  });
});

describe('examples/hello', () => {
  it('builds with the documented result', async () => {
    const { result, config, layers } = await configOf(undefined, {}, { context: 'examples/hello' });
    expect(config.config).toMatchObject({
      User: '1000:1000',
      WorkingDir: '/app',
      Cmd: ['/bin/cat', '/app/hello.txt'],
      ExposedPorts: { '8080/tcp': {} },
      Env: ['PATH=/bin', 'GREETING=hello from layerkit'],
    });
    expect(layers).toHaveLength(3);
    expect(await layerPaths(layers[1]!)).toEqual(['/app', '/app/hello.txt']);
    const tree = await rootfs(result.image);
    expect(tree.get('/app/hello.txt')?.mode).toBe(0o644);
    expect(await readText(tree, '/app/motd')).toBe('Built without a daemon.\n');
    expect(await readText(tree, '/app/hello.txt')).toBe('hello, layers\n');
  });
});
