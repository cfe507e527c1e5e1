/**
 * The store's sweep of half-written files (`sweepTemporaryFiles`, run by
 * `cache prune` on `<store>/cache/tmp`): what a dead writer or a day-old
 * leftover holds goes, files and directories alike; a live writer's stays.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { temporaryPath } from '../../src/image/fs-atomic.js';
import { sweepTemporaryFiles } from '../../src/image/store/blobs.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A pid that no process has any more: a child that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('sweepTemporaryFiles', () => {
  it('removes a dead writer\'s directory and file and a day-old directory, keeps a live writer\'s', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'layerkit-sweep-'));
    dirs.push(dir);
    const live = temporaryPath(dir, 'upload');
    await writeFile(live, 'in progress');
    // The same name shape as a live one, with the pid of a process that has exited.
    const dead = basename(temporaryPath(dir, 'unpack')).replace(/-\d+-/, `-${deadPid()}-`);
    await mkdir(join(dir, dead, 'nested'), { recursive: true });
    await writeFile(join(dir, dead, 'nested', 'body'), 'x');
    const deadFile = basename(temporaryPath(dir, 'blob')).replace(/-\d+-/, `-${deadPid()}-`);
    await writeFile(join(dir, deadFile), 'y');
    const old = join(dir, 'leftover');
    await mkdir(join(old, 'inside'), { recursive: true });
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    await utimes(old, twoDaysAgo, twoDaysAgo);

    await expect(sweepTemporaryFiles(dir)).resolves.toBe(3);
    expect(await readdir(dir)).toEqual([basename(live)]);
  });

  it('is a no-op on a directory that does not exist', async () => {
    await expect(sweepTemporaryFiles(join(tmpdir(), 'layerkit-no-such-dir-for-sweep'))).resolves.toBe(0);
  });
});
