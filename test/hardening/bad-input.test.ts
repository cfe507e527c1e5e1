/**
 * Bad input through the real `layerkit` program: one clear line and a
 * failing status, never a stack trace, and nothing created on the way.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { BuildError } from '../../src/builder/errors.js';
import { asSystemError, NoSpaceError, SystemError } from '../../src/image/store/system-errors.js';
import { cli, crashed, removeAll, repo, scratch } from './helpers.js';
import { bundleForOthers } from '../support/bundle-for-others.js';

const exec = promisify(execFile);
const cleanup: string[] = [];
afterEach(async () => removeAll(...cleanup.splice(0)));

/** A store with one small image `t:1`. */
async function storeWithImage(): Promise<string> {
  const [store, ctx] = [await scratch(), await scratch()];
  cleanup.push(store, ctx);
  await writeFile(join(ctx, 'a'), 'a\n');
  await build({ context: ctx, store, tags: 't:1', dockerfileText: 'FROM scratch\nCOPY a /a\n' });
  return store;
}

function oneLine(stderr: string): void {
  expect(crashed(stderr) ? stderr : '').toBe('');
}

describe('bad input', () => {
  it('a NUL byte in RUN: an instruction error with its line', async () => {
    const ctx = await scratch();
    cleanup.push(ctx);
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nRUN echo a\0b\n');
    const run = await cli(['build', '--progress', 'plain', '--store', join(ctx, 'store'), ctx]);
    oneLine(run.stderr);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Dockerfile:2:1: RUN: the command contains a NUL byte/);
    const err = await build({ context: ctx, store: join(ctx, 'store'), run: () => 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect(err).toMatchObject({ code: 'INVALID_INSTRUCTION', data: { line: 2 } });
  });

  it('--store pointing at a file, or through one', async () => {
    const dir = await scratch();
    cleanup.push(dir);
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY file /file\n');
    for (const [args, store] of [
      [['images'], file],
      [['build', '--no-run', dir], join(file, 'sub')],
      [['prune'], join(file, 'sub')],
    ] as const) {
      const run = await cli([...args, '--store', store]);
      oneLine(run.stderr);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(new RegExp(`^layerkit ${args[0]}: .*${file}.* not a directory\\n$`));
    }
  });

  it('save -o into a directory that does not exist: refused, nothing created', async () => {
    const store = await storeWithImage();
    const dir = await scratch();
    cleanup.push(dir);
    const run = await cli(['save', '-o', join(dir, 'missing', 'deeper', 'out.tar'), '--store', store, 't:1']);
    oneLine(run.stderr);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/invalid output path: directory ".*missing\/deeper" does not exist/);
    await expect(stat(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    // An existing directory still works.
    expect((await cli(['save', '-o', join(dir, 'out.tar'), '--store', store, 't:1'])).code).toBe(0);
  });

  it('run -w with a relative directory, and -e without a name: refused before any container exists', async () => {
    const store = await storeWithImage();
    const workdir = await cli(['run', '-w', 'rel', '--store', store, 't:1', '/a']);
    oneLine(workdir.stderr);
    // docker run's status when it cannot start the container.
    expect(workdir.code).toBe(125);
    expect(workdir.stderr).toContain("the working directory 'rel' is invalid, it needs to be an absolute path");
    const env = await cli(['run', '-e', '=x', '--store', store, 't:1', '/a']);
    oneLine(env.stderr);
    expect(env.code).toBe(125);
    expect(env.stderr).toContain('invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x');
    const ps = await cli(['ps', '-a', '-q', '--store', store]);
    expect(ps).toMatchObject({ code: 0, stdout: '' });
  });

  it('a system error of the machine (permission denied) is one line', async (t) => {
    if (process.getuid?.() !== 0) {
      if (process.env.CI) throw new Error('this test drops to an unprivileged user with setpriv and needs root');
      console.warn('skipping: dropping privileges needs root');
      return t.skip();
    }
    const dir = await scratch();
    cleanup.push(dir);
    await mkdir(join(dir, 'store'));
    await chmod(dir, 0o700);
    // nobody may not be able to read the checkout: it runs the CLI bundled into a world-readable dir.
    const bin = await scratch();
    cleanup.push(bin);
    await chmod(bin, 0o755);
    const script = await bundleForOthers(bin, 'layerkit', `import ${JSON.stringify(join(repo, 'src/cli/main.ts'))};`);
    const result = await exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, script, 'images', '--store', join(dir, 'store')], { cwd: bin }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    oneLine(result.stderr);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`layerkit images: ${join(dir, 'store')}: permission denied\n`);
  });

  it('asSystemError types Node system errors, full disks as NO_SPACE', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write', path: '/s/tmp/x' });
    const typed = asSystemError(new Error('wrapped', { cause: enospc }), 'load');
    expect(typed).toBeInstanceOf(NoSpaceError);
    expect(typed).toMatchObject({ code: 'NO_SPACE', data: { operation: 'load', path: '/s/tmp/x', errno: 'ENOSPC' } });
    const enotdir = Object.assign(new Error('ENOTDIR: not a directory, open'), { code: 'ENOTDIR', syscall: 'open', path: '/f/index.json' });
    expect(asSystemError(enotdir, 'images')).toMatchObject({ code: 'SYSTEM_ERROR', message: '/f/index.json: not a directory' });
    expect(asSystemError(enotdir, 'images')).toBeInstanceOf(SystemError);
    const plain = new TypeError('a bug');
    expect(asSystemError(plain, 'images')).toBe(plain);
  });
});
