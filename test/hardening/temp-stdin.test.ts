/**
 * Nothing left behind by what standard input brings: the context of
 * `build -` and the rootfs of `import -` are unpacked or spooled under the
 * store, owned by the pid that reads them, never in $TMPDIR; after a
 * `kill -9` (a real `layerkit` process) the next command removes them.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scratchOwner } from '../../src/image/store/scratch.js';
import { cli, cliArgv, exited, names, removeAll, repo, scratch, waitFor } from './helpers.js';

const cleanup: string[] = [];
afterEach(async () => removeAll(...cleanup.splice(0)));

/** Entries in a temp directory that are not tsx's own compile cache. */
async function ours(dir: string): Promise<string[]> {
  return (await names(dir)).filter((n) => !n.startsWith('tsx-'));
}

describe('kill -9 of build - (a context tar on standard input)', () => {
  it('unpacks the context under <store>/tmp named for its pid, leaves $TMPDIR empty, and the next command sweeps it', async () => {
    const [store, ctx, tmpdir, work] = [await scratch(), await scratch(), await scratch(), await scratch()];
    cleanup.push(store, ctx, tmpdir, work);
    // Incompressible bytes: staging the COPY takes long enough to be caught mid-build.
    await writeFile(join(ctx, 'big'), randomBytes(96 << 20));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
    const tar = join(work, 'context.tar');
    execFileSync('tar', ['-cf', tar, '-C', ctx, '.']);

    const child = spawn(process.execPath, cliArgv(['build', '--no-run', '--progress', 'plain', '--store', store, '-']), {
      cwd: repo,
      env: { ...process.env, TMPDIR: tmpdir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdout!.resume();
    child.stderr!.resume();
    createReadStream(tar).pipe(child.stdin!);
    const tmp = join(store, 'tmp');
    const contextDirs = async () => (await names(tmp)).filter((n) => n.startsWith('context-'));
    // The context is unpacked and the build under way: its layer is being staged from the unpacked file.
    const building = async () => (await names(tmp)).some((n) => n.startsWith('build-'));
    await waitFor('the build from the unpacked context', async () => ((await contextDirs()).length > 0 && (await building())) || child.exitCode !== null);
    const during = await contextDirs();
    child.kill('SIGKILL');
    expect((await exited(child)).signal).toBe('SIGKILL');

    expect(during).toHaveLength(1);
    const owner = scratchOwner(during[0]!);
    expect(owner?.pid).toBe(child.pid);
    // The whole context was unpacked there (its Dockerfile and the big file), not in $TMPDIR.
    expect((await stat(join(tmp, during[0]!, 'context', 'big'))).size).toBe(96 << 20);
    expect(await ours(tmpdir)).toEqual([]);

    const next = await cli(['images', '--store', store], { env: { TMPDIR: tmpdir } });
    expect(next.code).toBe(0);
    expect(await contextDirs()).toEqual([]);
    expect((await names(tmp)).filter((n) => n.startsWith('build-'))).toEqual([]);
    expect(await ours(tmpdir)).toEqual([]);
  });

  it('a finished build - removes its context and uses nothing in $TMPDIR', async () => {
    const [store, ctx, tmpdir, work] = [await scratch(), await scratch(), await scratch(), await scratch()];
    cleanup.push(store, ctx, tmpdir, work);
    await writeFile(join(ctx, 'hello.txt'), 'hello\n');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /\n');
    const tar = join(work, 'context.tar');
    execFileSync('tar', ['-cf', tar, '-C', ctx, '.']);
    const out = await cli(['build', '--no-run', '-q', '--store', store, '-'], { env: { TMPDIR: tmpdir }, input: await readFile(tar) });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect((await names(join(store, 'tmp'))).filter((n) => n.startsWith('context-'))).toEqual([]);
    expect(await ours(tmpdir)).toEqual([]);
  });
});

describe('import - (a rootfs tar on standard input)', () => {
  it('spools it under <store>/tmp named for its pid; after kill -9 $TMPDIR is empty and the next command sweeps the spool', async () => {
    const [store, tmpdir] = [await scratch(), await scratch()];
    cleanup.push(store, tmpdir);
    const child = spawn(process.execPath, cliArgv(['import', '--store', store, '-', 'imported:1']), {
      cwd: repo,
      env: { ...process.env, TMPDIR: tmpdir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdout!.resume();
    child.stderr!.resume();
    // Part of a tar, standard input left open: the spool is made and waits for the rest.
    child.stdin!.write(Buffer.alloc(4096));
    const tmp = join(store, 'tmp');
    const spools = async () => (await names(tmp)).filter((n) => n.startsWith('import-'));
    await waitFor('the import spool', async () => (await spools()).length > 0 || child.exitCode !== null);
    const during = await spools();
    child.kill('SIGKILL');
    expect((await exited(child)).signal).toBe('SIGKILL');
    expect(during).toHaveLength(1);
    expect(scratchOwner(during[0]!)?.pid).toBe(child.pid);
    expect(await ours(tmpdir)).toEqual([]);

    expect((await cli(['images', '--store', store], { env: { TMPDIR: tmpdir } })).code).toBe(0);
    expect(await spools()).toEqual([]);
    expect(await ours(tmpdir)).toEqual([]);
  });

  it('a finished import - removes its spool and uses nothing in $TMPDIR', async () => {
    const [store, root, tmpdir, work] = [await scratch(), await scratch(), await scratch(), await scratch()];
    cleanup.push(store, root, tmpdir, work);
    await writeFile(join(root, 'hello.txt'), 'hello\n');
    const tar = join(work, 'rootfs.tar');
    execFileSync('tar', ['-cf', tar, '-C', root, '.']);
    const out = await cli(['import', '--store', store, '-', 'imported:1'], { env: { TMPDIR: tmpdir }, input: await readFile(tar) });
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect((await names(join(store, 'tmp'))).filter((n) => n.startsWith('import-'))).toEqual([]);
    expect(await ours(tmpdir)).toEqual([]);
  });
});
