/**
 * A cgroup v2 of its own for each running container, for `pause` and
 * `unpause` (the cgroup v2 freezer, `cgroup.freeze`, Linux ≥ 5.2).
 *
 * The cgroup is made below the cgroup of the process that starts the
 * container (`<own cgroup>/layerkit-<id>`), which works where that cgroup is
 * writable: as root, or in a cgroup delegated to the user (systemd's
 * `user@.service`, a container runtime's delegated subtree). The container's
 * first process joins it from a host shell before the namespaces are made,
 * so every process of the container is in it; `exec`'d processes join it
 * too. Where no cgroup can be had, the container runs anyway and `pause`
 * says why it cannot.
 * @module
 */
import { access, constants, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ContainerError } from './errors.js';

/** A container's cgroup, or why it has none. */
export type CgroupPlace = { path: string } | { reason: string };

/** Where this process's cgroup v2 is on the host (or why there is none). */
async function ownCgroup(): Promise<CgroupPlace> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  let mount: { root: string; point: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    const [left = '', right = ''] = line.split(' - ');
    if (!right.startsWith('cgroup2 ')) continue;
    const fields = left.split(' ');
    mount = { root: unescapeMountField(fields[3] ?? '/'), point: unescapeMountField(fields[4] ?? '') };
    break;
  }
  if (!mount) return { reason: 'no cgroup v2 hierarchy is mounted here (cgroup v1 only)' };
  const own = (await readFile('/proc/self/cgroup', 'utf8').catch(() => '')).split('\n').find((l) => l.startsWith('0::'));
  if (own === undefined) return { reason: 'this process is not in a cgroup v2' };
  let path = own.slice(3);
  if (mount.root !== '/' && path.startsWith(mount.root)) path = path.slice(mount.root.length);
  return { path: join(mount.point, path) };
}

function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Makes the cgroup of a container about to start. Never throws: a machine
 * without a usable cgroup v2 runs containers without pause.
 */
export async function createCgroup(id: string): Promise<CgroupPlace> {
  const own = await ownCgroup();
  if (!('path' in own)) return own;
  const path = join(own.path, `layerkit-${id}`);
  try {
    await mkdir(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') return { reason: `cannot create a cgroup in ${own.path}: ${code ?? String(err)} (it is not delegated to this user)` };
  }
  try {
    await access(join(path, 'cgroup.freeze'), constants.W_OK);
    await access(join(path, 'cgroup.procs'), constants.W_OK);
  } catch (err) {
    await rmdir(path).catch(() => {});
    const code = (err as NodeJS.ErrnoException).code;
    return { reason: code === 'ENOENT' ? 'the kernel has no cgroup v2 freezer (cgroup.freeze needs Linux 5.2)' : `${path} is not writable (${code})` };
  }
  return { path };
}

/**
 * A host shell's argv prefix that moves itself into `cgroup` and then execs
 * the rest of the argv (a failure to join is silent: `pause` reports it).
 */
export function joinCgroupArgv(sh: string, cgroup: string | undefined): string[] {
  if (cgroup === undefined) return [];
  return [sh, '-c', '{ echo $$ > "$0/cgroup.procs"; } 2>/dev/null; exec "$@"', cgroup];
}

/** Whether `pid` is a member of `cgroup`. */
export async function inCgroup(cgroup: string, pid: number): Promise<boolean> {
  const procs = await readFile(join(cgroup, 'cgroup.procs'), 'utf8').catch(() => '');
  return procs.split('\n').includes(String(pid));
}

/** Whether the cgroup is (being) frozen. */
export async function isFrozen(cgroup: string | undefined): Promise<boolean> {
  if (cgroup === undefined) return false;
  return (await readFile(join(cgroup, 'cgroup.freeze'), 'utf8').catch(() => '0')).trim() === '1';
}

/**
 * Freezes or thaws every process of the cgroup and waits until the kernel
 * says it is done (`frozen 1`/`0` in `cgroup.events`), as `docker pause`
 * does.
 */
export async function setFrozen(cgroup: string, frozen: boolean, timeoutMs = 10_000): Promise<void> {
  try {
    await writeFile(join(cgroup, 'cgroup.freeze'), frozen ? '1' : '0');
  } catch (err) {
    throw new ContainerError('FREEZER_UNAVAILABLE', `cannot ${frozen ? 'freeze' : 'thaw'} ${cgroup}: ${(err as Error).message}`, { path: cgroup, reason: (err as NodeJS.ErrnoException).code ?? 'write failed' });
  }
  const want = `frozen ${frozen ? 1 : 0}`;
  for (const until = Date.now() + timeoutMs; Date.now() < until; ) {
    const events = await readFile(join(cgroup, 'cgroup.events'), 'utf8').catch(() => '');
    if (events.split('\n').includes(want) || events.includes('populated 0')) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new ContainerError('FREEZER_UNAVAILABLE', `${cgroup} did not reach "${want}" within ${timeoutMs} ms`, { path: cgroup, reason: 'timeout' });
}

/** Removes a container's cgroup once its processes are gone (best effort, a few tries). */
export async function removeCgroup(cgroup: string | undefined): Promise<void> {
  if (cgroup === undefined) return;
  for (let i = 0; i < 50; i++) {
    try {
      await rmdir(cgroup);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY') return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
