/**
 * `docker build` habits through the real program: `-f` from the current
 * directory, `-f -`, `build -` (a tar or a Dockerfile on standard input),
 * `-o type=local|tar` (the final stage's files), `--secret`, `--ssh`, and
 * one-line refusals of flags layerkit does not have by design.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxExecutor } from '../../src/sandbox/index.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, sandboxReady, tempDir } from '../builder/helpers.js';
import { layerkit } from './habits-helpers.js';

let work: string;
let store: string;
let ctx: string;

beforeAll(async () => {
  work = await tempDir('layerkit-habits-build-');
  store = join(work, 'store');
  ctx = join(work, 'ctx');
  await mkdir(join(ctx, 'sub'), { recursive: true });
  await writeFile(join(ctx, 'hello.txt'), 'hello\n');
  await writeFile(join(ctx, 'sub', 'deep.txt'), 'deep\n');
  await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
  await writeFile(join(ctx, 'Other.Dockerfile'), 'FROM scratch\nCOPY sub/deep.txt /deep.txt\n');
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Lists a tar's members with GNU tar. */
function tarList(file: string): string[] {
  return execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n').filter(Boolean).map((p) => p.replace(/^\.\//, '').replace(/\/$/, ''));
}

describe('the Dockerfile and the context', () => {
  it('-f is a path from the current directory, as docker build reads it', async () => {
    const out = await layerkit(['build', '--store', store, '--progress=quiet', '-f', 'ctx/Other.Dockerfile', 'ctx'], { cwd: work });
    expect(out.status, out.stderr).toBe(0);
    const files = join(work, 'files-f');
    const again = await layerkit(['build', '--store', store, '--progress=quiet', '-f', 'ctx/Other.Dockerfile', '-o', `type=local,dest=${files}`, 'ctx'], { cwd: work });
    expect(again.status, again.stderr).toBe(0);
    expect(await readdir(files)).toEqual(['deep.txt']);
  }, 60_000);

  it('-f - reads the Dockerfile from standard input', async () => {
    const files = join(work, 'files-stdin-dockerfile');
    const out = await layerkit(['build', '--store', store, '--progress=quiet', '-f', '-', '-o', files, ctx], { input: 'FROM scratch\nCOPY sub/ /from-stdin/\n' });
    expect(out.status, out.stderr).toBe(0);
    expect(await readFile(join(files, 'from-stdin', 'deep.txt'), 'utf8')).toBe('deep\n');
  }, 60_000);

  it('build - reads the context as a tar from standard input, its Dockerfile inside (-f names another one there)', async () => {
    const tar = execFileSync('tar', ['-C', ctx, '-cf', '-', '.']);
    const files = join(work, 'files-stdin-tar');
    const out = await layerkit(['build', '--store', store, '--progress=quiet', '-o', files, '-'], { input: tar });
    expect(out.status, out.stderr).toBe(0);
    expect(await readdir(files)).toEqual(['hello.txt']);
    const gz = execFileSync('tar', ['-C', ctx, '-czf', '-', '.']);
    const other = join(work, 'files-stdin-tgz');
    const second = await layerkit(['build', '--store', store, '--progress=quiet', '-f', 'Other.Dockerfile', '-o', other, '-'], { input: gz });
    expect(second.status, second.stderr).toBe(0);
    expect(await readdir(other)).toEqual(['deep.txt']);
  }, 60_000);

  it('build - with a Dockerfile alone on standard input builds with an empty context', async () => {
    const ok = await layerkit(['build', '--store', store, '-q', '-'], { input: 'FROM scratch\nLABEL from=stdin\n' });
    expect(ok.status, ok.stderr).toBe(0);
    const id = ok.stdout.trim();
    const label = await layerkit(['inspect', '--store', store, '-f', '{{index .Config.Labels "from"}}', id]);
    expect(label.stdout).toBe('stdin\n');
    const copy = await layerkit(['build', '--store', store, '-q', '-'], { input: 'FROM scratch\nCOPY hello.txt /\n' });
    expect(copy.status).toBe(1);
    expect(copy.stderr).toContain('<stdin>:2');
  }, 60_000);

  it('refuses a context and a Dockerfile both on standard input', async () => {
    const out = await layerkit(['build', '--store', store, '-f', '-', '-'], { input: 'FROM scratch\n' });
    expect(out.status).toBe(2);
    expect(out.stderr).toContain('cannot both come from standard input');
  }, 60_000);
});

describe('exporting the final stage files', () => {
  it('type=local writes the files to DIR, type=tar to FILE and to standard output', async () => {
    const dir = join(work, 'out-local');
    const file = join(work, 'out.tar');
    const out = await layerkit(['build', '--store', store, '--progress=quiet', '-o', `type=local,dest=${dir}`, '-o', `type=tar,dest=${file}`, ctx]);
    expect(out.status, out.stderr).toBe(0);
    expect(await readFile(join(dir, 'hello.txt'), 'utf8')).toBe('hello\n');
    expect(tarList(file)).toContain('hello.txt');
    const piped = await layerkit(['build', '--store', store, '--progress=plain', '-o', '-', ctx]);
    expect(piped.status, piped.stderr).toBe(0);
    // Standard output is the tar alone; what is said goes to standard error.
    expect(piped.stderr).toContain('built sha256:');
    const stdoutTar = join(work, 'stdout.tar');
    await writeFile(stdoutTar, piped.bytes);
    expect(tarList(stdoutTar)).toContain('hello.txt');
  }, 60_000);

  it('a later stage that deletes files exports without them', async () => {
    const c = join(work, 'ctx-delete');
    await mkdir(c, { recursive: true });
    await writeFile(join(c, 'a'), 'a');
    await writeFile(join(c, 'Dockerfile'), 'FROM scratch AS base\nCOPY a /a\nCOPY a /b\nFROM base\nCOPY --from=base /a /c\n');
    const dir = join(work, 'out-stages');
    const out = await layerkit(['build', '--store', store, '--progress=quiet', '-o', dir, c]);
    expect(out.status, out.stderr).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(['a', 'b', 'c']);
  }, 60_000);
});

describe('flags layerkit does not have by design', () => {
  it.each([
    [['build', '--squash', '.'], '--squash is not supported'],
    [['build', '-m', '1g', '.'], '-m is not supported'],
    [['build', '--add-host', 'a:1.2.3.4', '.'], '--add-host is not supported'],
  ])('%j says so in one line', async (args, message) => {
    const out = await layerkit(args);
    expect(out.status).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toContain(message);
  }, 60_000);

  it('an unknown flag still shows the usage', async () => {
    const out = await layerkit(['build', '--no-such-flag', '.']);
    expect(out.status).toBe(2);
    expect(out.stderr).toContain('unknown flag: --no-such-flag');
    expect(out.stderr).toContain('Usage: layerkit build');
  }, 60_000);
});

describe('--secret and --ssh', () => {
  let ready = false;
  let busybox: string;

  beforeAll(async () => {
    if (!(await sandboxReady('build --secret/--ssh CLI tests'))) return;
    const base = await tempDir('layerkit-habits-busybox-');
    await mkdir(join(base, 'bin'));
    await copyFile('/bin/busybox', join(base, 'bin', 'busybox'));
    await buildText('FROM scratch\nCOPY bin/busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n', {}, { executor: sandboxExecutor(), store: new ImageStore(store), context: base, tags: 'habits/busybox' });
    await rm(base, { recursive: true, force: true });
    busybox = 'habits/busybox';
    ready = true;
  }, 180_000);

  it('--secret id=…,src=FILE and id=…,env=VAR reach RUN --mount=type=secret and no layer', async (t) => {
    if (!ready) return t.skip();
    const c = join(work, 'ctx-secret');
    await mkdir(c, { recursive: true });
    await writeFile(join(work, 'token.txt'), 's3cret-file');
    await writeFile(
      join(c, 'Dockerfile'),
      `FROM ${busybox}\nRUN --mount=type=secret,id=tok --mount=type=secret,id=api cat /run/secrets/tok /run/secrets/api > /seen\nRUN --mount=type=secret,id=API_KEY,env=KEY echo "$KEY" > /env\n`,
    );
    const dir = join(work, 'out-secret');
    const out = await layerkit(
      ['build', '--store', store, '--progress=quiet', '--no-cache', '--secret', `id=tok,src=${join(work, 'token.txt')}`, '--secret', 'id=api,env=HABITS_API', '--secret', 'id=API_KEY', '-o', dir, c],
      { env: { HABITS_API: '-and-env', API_KEY: 'from-id' } },
    );
    expect(out.status, out.stderr).toBe(0);
    expect(await readFile(join(dir, 'seen'), 'utf8')).toBe('s3cret-file-and-env');
    expect(await readFile(join(dir, 'env'), 'utf8')).toBe('from-id\n');
    expect(await readdir(join(dir, 'run')).catch(() => [])).not.toContain('secrets');
  }, 120_000);

  it('--ssh default forwards $SSH_AUTH_SOCK as RUN --mount=type=ssh does in BuildKit', async (t) => {
    if (!ready) return t.skip();
    const socket = join(work, 'agent.sock');
    // A stand-in agent: a listening socket. The RUN sees a socket of its own that forwards to it, owned and
    // moded as BuildKit makes it (0:0, 0600); habits-ssh.test.ts talks to a real agent through it.
    const server = createServer((conn) => conn.end());
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const c = join(work, 'ctx-ssh');
      await mkdir(c, { recursive: true });
      await writeFile(join(c, 'Dockerfile'), `FROM ${busybox}\nRUN --mount=type=ssh echo "$SSH_AUTH_SOCK" > /sock && test -S "$SSH_AUTH_SOCK" && stat -c '%a %u %g' "$SSH_AUTH_SOCK" > /owner\n`);
      const dir = join(work, 'out-ssh');
      const out = await layerkit(['build', '--store', store, '--progress=quiet', '--no-cache', '--ssh', 'default', '-o', dir, c], { env: { SSH_AUTH_SOCK: socket } });
      expect(out.status, out.stderr).toBe(0);
      expect(await readFile(join(dir, 'sock'), 'utf8')).toMatch(/^\/run\/buildkit\/ssh_agent\.\d+\n$/);
      expect(await readFile(join(dir, 'owner'), 'utf8')).toBe('600 0 0\n');
    } finally {
      server.close();
    }
  }, 120_000);

  it('--ssh with a file that is not a private key or a missing socket says why', async () => {
    await writeFile(join(work, 'id_ed25519'), 'not a key');
    const key = await layerkit(['build', '--store', store, '--ssh', `default=${join(work, 'id_ed25519')}`, ctx]);
    expect(key.status).toBe(1);
    expect(key.stderr).toContain('not a private key');
    const unset = await layerkit(['build', '--store', store, '--ssh', 'default', ctx], { env: { SSH_AUTH_SOCK: '' } });
    expect(unset.status).toBe(2);
    expect(unset.stderr).toContain('SSH_AUTH_SOCK is not set');
  }, 60_000);
});
