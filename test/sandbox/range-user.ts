/**
 * A real user with subordinate ids for the rootless tests: made as root (a
 * range of its own, removed after), or the caller itself when it has one.
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseSubordinateIds } from '../../src/sandbox/id-map.js';

const run = promisify(execFile);

/** A user a test runs as: name, ids, and whether the test made it (then it removes it). */
export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  made?: { subuids: string; subgids: string };
}

/** Adds a user named `name` with a range of 65536 subordinate ids that no other user has. */
export async function makeRangeUser(name: string): Promise<TestUser> {
  // A user of this name left by a run that was killed (its name has a pid that may come again): gone first.
  if (await run('id', ['-u', name]).then(() => true, () => false)) await removeUser(name);
  await run('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
  const uid = Number((await run('id', ['-u', name])).stdout.trim());
  const gid = Number((await run('id', ['-g', name])).stdout.trim());
  const user: TestUser = { name, uid, gid };
  try {
    // useradd gives one where login.defs says so (SUB_UID_COUNT); else one past every range in use.
    let subuids = parseSubordinateIds(await readFile('/etc/subuid', 'utf8').catch(() => ''), { name, uid });
    let subgids = parseSubordinateIds(await readFile('/etc/subgid', 'utf8').catch(() => ''), { name, uid });
    if (!subuids || !subgids) {
      const start = await freeRangeStart();
      const range = `${start}-${start + 65535}`;
      await run('usermod', ['--add-subuids', range, '--add-subgids', range, name]);
      subuids = subgids = { start, count: 65536 };
    }
    user.made = { subuids: `${subuids.start}-${subuids.start + subuids.count - 1}`, subgids: `${subgids.start}-${subgids.start + subgids.count - 1}` };
    return user;
  } catch (err) {
    await run('userdel', [name]).catch(() => undefined);
    throw err;
  }
}

/** Removes a user {@link makeRangeUser} made, with its range; true when nothing of it is left. */
export async function removeRangeUser(user: TestUser): Promise<boolean> {
  if (!user.made) return true;
  const { name, made } = user;
  await run('usermod', ['--del-subuids', made.subuids, '--del-subgids', made.subgids, name]).catch(() => undefined);
  await removeUser(name);
  for (const file of ['/etc/passwd', '/etc/subuid', '/etc/subgid']) {
    if ((await readFile(file, 'utf8')).split('\n').some((l) => l.startsWith(`${name}:`))) return false;
  }
  return true;
}

/** Ends the processes of `name` (by its exact uid), then removes it with the ranges it still has. */
async function removeUser(name: string): Promise<void> {
  const uid = (await run('id', ['-u', name])).stdout.trim();
  // pkill exits 1 when nothing matched.
  await run('pkill', ['-KILL', '-U', uid]).catch((err: { code?: number }) => {
    if (err.code !== 1) throw err;
  });
  const ranges = async (file: string) =>
    (await readFile(file, 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l.startsWith(`${name}:`))
      .map((l) => l.split(':'))
      .map(([, start, count]) => `${start}-${Number(start) + Number(count) - 1}`);
  for (const range of await ranges('/etc/subuid')) await run('usermod', ['--del-subuids', range, name]).catch(() => undefined);
  for (const range of await ranges('/etc/subgid')) await run('usermod', ['--del-subgids', range, name]).catch(() => undefined);
  await run('userdel', [name]);
}

async function freeRangeStart(): Promise<number> {
  let end = 100000;
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    for (const line of (await readFile(file, 'utf8').catch(() => '')).split('\n')) {
      const [, start, count] = line.split(':');
      if (start && count) end = Math.max(end, Number(start) + Number(count));
    }
  }
  return Math.ceil(end / 65536) * 65536;
}

/**
 * The build context the rootless suites build from, in `dir` (made open to
 * the test user): busybox, a root-only passwd and group, and `files` (name →
 * text) beside them. Returns the context's path.
 */
export async function busyboxContext(dir: string, files: Record<string, string>): Promise<string> {
  await chmod(dir, 0o777);
  const context = join(dir, 'context');
  await mkdir(join(context, 'etc'), { recursive: true });
  await copyFile('/bin/busybox', join(context, 'busybox'));
  await writeFile(join(context, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(context, 'etc/group'), 'root:x:0:\n');
  for (const [name, text] of Object.entries(files)) await writeFile(join(context, name), text);
  await chmod(join(context, 'etc'), 0o755);
  return context;
}
