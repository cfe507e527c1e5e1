/**
 * Nothing left behind: a build killed with `kill -9` (a real `layerkit`
 * process) leaves its staged layers and RUN step directories only under the
 * store, owned by a pid that is then dead, and the next command removes them.
 * Nothing goes to $TMPDIR.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { makeScratchDir, ownerAlive, ownerLives, ownerTag, processStartTime, registerScratchUser, scratchOwner, sweepStoreScratch } from '../../src/image/store/scratch.js';
import { sandboxReady } from '../builder/helpers.js';
import { cli, dirBytes, exited, names, removeAll, repo, scratch, startCli, waitFor } from './helpers.js';

const exec = promisify(execFile);
const cleanup: string[] = [];
afterEach(async () => removeAll(...cleanup.splice(0)));

/** Entries in a temp directory that are not tsx's own compile cache. */
async function ours(dir: string): Promise<string[]> {
  return (await names(dir)).filter((n) => !n.startsWith('tsx-'));
}

describe('scratch ownership', () => {
  it('names this process with its pid and start time, and tells a reused pid from its owner', () => {
    const owner = scratchOwner(`build-${ownerTag()}-abc123`);
    expect(owner?.pid).toBe(process.pid);
    expect(owner?.start).toBe(processStartTime(process.pid));
    expect(ownerAlive(owner!.pid, owner!.start)).toBe(true);
    // Same pid, another start time: a process that reused the pid is not the owner.
    expect(ownerAlive(process.pid, String(Number(owner!.start) + 1))).toBe(false);
    // Another host's owner cannot be asked: alive until its entry is a day old.
    const foreign = scratchOwner(`build-p1s1h${owner!.host === '00000000' ? '11111111' : '00000000'}-abc123`)!;
    expect(ownerLives(foreign)).toBe(true);
    expect(ownerLives(scratchOwner(`build-p1s999999999999h${owner!.host}-abc123`)!)).toBe(false);
  });

  it('sweeps the directories of a killed process and keeps a live one\'s', async () => {
    const store = await scratch();
    cleanup.push(store);
    const tmp = join(store, 'tmp');
    // A real process makes an owned directory, then dies by SIGKILL.
    const code = `import { makeScratchDir } from ${JSON.stringify(join(repo, 'src/image/store/scratch.ts'))};
      await makeScratchDir(${JSON.stringify(join(store, 'layers-extracted'))}, '.0123456789ab');
      await makeScratchDir(${JSON.stringify(tmp)}, 'build');
      process.kill(process.pid, 'SIGKILL');`;
    await exec(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repo }).catch(() => undefined);
    const mine = await makeScratchDir(tmp, 'build');
    await mkdir(join(store, 'layers-extracted', 'f'.repeat(64)), { recursive: true });
    expect((await names(tmp)).length).toBe(2);
    expect((await names(join(store, 'layers-extracted'))).length).toBe(2);
    expect(await sweepStoreScratch(store)).toBe(2);
    expect(await names(tmp)).toEqual([mine.slice(tmp.length + 1)]);
    expect(await names(join(store, 'layers-extracted'))).toEqual(['f'.repeat(64)]);
  });
});

describe('entries without an owner in their name', () => {
  it('stay while a registered user of the store lives, and go when none does', async () => {
    const store = await scratch();
    cleanup.push(store);
    const tmp = join(store, 'tmp');
    await mkdir(join(tmp, 'step-abc123'), { recursive: true });
    // Registered by a process that is dead now: nothing protects the entry.
    const code = `import { registerScratchUser } from ${JSON.stringify(join(repo, 'src/image/store/scratch.ts'))};
      await registerScratchUser(${JSON.stringify(store)});
      process.kill(process.pid, 'SIGKILL');`;
    await exec(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repo }).catch(() => undefined);
    expect((await names(join(tmp, '.live'))).length).toBe(1);
    const release = await registerScratchUser(store);
    expect(await sweepStoreScratch(store)).toBe(0);
    expect(await names(tmp)).toEqual(['.live', 'step-abc123']);
    expect(await names(join(tmp, '.live'))).toEqual([`live-${ownerTag()}-0`]);
    // Released: the registration goes (with its emptied directory), and the next sweep takes the entry.
    await release();
    expect(await names(tmp)).toEqual(['step-abc123']);
    expect(await sweepStoreScratch(store)).toBe(1);
    expect(await names(tmp)).toEqual([]);
  });
});

describe('kill -9 of a build', () => {
  it('leaves nothing in $TMPDIR, and the next command removes the staged layers', async () => {
    const [store, ctx, tmpdir] = [await scratch(), await scratch(), await scratch()];
    cleanup.push(store, ctx, tmpdir);
    // Incompressible bytes: staging the layer takes a while and is as big as the file.
    await writeFile(join(ctx, 'big'), randomBytes(96 << 20));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
    const child = startCli(['build', '--no-run', '--progress', 'plain', '--store', store, ctx], { TMPDIR: tmpdir });
    const tmp = join(store, 'tmp');
    const staged = async () => {
      for (const name of await names(tmp)) if (name.startsWith('build-') && (await dirBytes(join(tmp, name))) > 1 << 20) return true;
      return false;
    };
    await waitFor('the build to stage its layer', async () => (await staged()) || child.exitCode !== null);
    child.kill('SIGKILL');
    expect((await exited(child)).signal).toBe('SIGKILL');
    expect(await staged()).toBe(true);
    expect(await ours(tmpdir)).toEqual([]);
    const next = await cli(['images', '--store', store], { env: { TMPDIR: tmpdir } });
    expect(next.code).toBe(0);
    expect((await names(tmp)).filter((n) => n.startsWith('build-'))).toEqual([]);
    expect(await ours(tmpdir)).toEqual([]);
  });

  it('during a RUN step: the next command removes its step directory', async (t) => {
    if (!(await sandboxReady('kill -9 during RUN'))) return t.skip();
    const [store, ctx, tmpdir] = [await scratch(), await scratch(), await scratch()];
    cleanup.push(store, ctx, tmpdir);
    await copyFile('/bin/busybox', join(ctx, 'busybox'));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "dd", "if=/dev/zero", "of=/fill", "bs=1M", "count=8"]\nRUN ["/bin/busybox", "sleep", "2"]\n');
    const child = startCli(['build', '--progress', 'plain', '--store', store, ctx], { TMPDIR: tmpdir });
    let output = '';
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const tmp = join(store, 'tmp');
    await waitFor('the second RUN step', async () => /RUN \["\/bin\/busybox", "sleep"/.test(output) || child.exitCode !== null);
    await waitFor('its step directory', async () => (await names(tmp)).some((n) => n.startsWith('step-')) || child.exitCode !== null);
    child.kill('SIGKILL');
    await exited(child);
    expect((await names(tmp)).some((n) => n.startsWith('step-'))).toBe(true);
    // The step's own processes end by themselves (sleep 2) whether or not they outlive the CLI.
    await new Promise((r) => setTimeout(r, 2500));
    expect((await cli(['images', '--store', store])).code).toBe(0);
    expect((await names(tmp)).filter((n) => n !== '.live')).toEqual([]);
    expect(await ours(tmpdir)).toEqual([]);
  });
});
