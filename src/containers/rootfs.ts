/**
 * A container's root file system as the kernel shows it, reachable from the
 * host for the length of one operation (`cp` into it):
 *
 * - running: `/proc/<init>/root`, the root of the container's first
 *   process (the kernel walks paths below it in the container's mount
 *   namespace);
 * - stopped or never started: a *mount helper* — a host shell in a private
 *   mount namespace (and, rootless, a user namespace) that mounts the
 *   container's overlay (the image's extracted layers, the mount-point
 *   stubs, the container's upper) and waits; its `/proc/<pid>/root` leads to
 *   the mount. The namespace, and the mount with it, go when the helper's
 *   stdin closes — also if this process dies.
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Layer } from '../layers/layer.js';
import { SandboxError } from '../sandbox/errors.js';
import { extractedLayer } from '../sandbox/extracted.js';
import { removeTree } from '../sandbox/files.js';
import type { SandboxCapabilities } from '../sandbox/probe.js';
import { unshareIdArgs, type IdMap } from '../sandbox/id-map.js';
import { lowerOwners } from '../sandbox/lower-owners.js';

/**
 * The path that leads from the host to a running container's root file
 * system, once its first process has changed root into it. Between the
 * setup's end and that `chroot` (a few `exec`s: env, setpriv, unshare) the
 * process's root is still the sandbox's helper root — a directory of the
 * container's own directory, on the same device — while the container's
 * root is an overlay mount with a device of its own: so the device number
 * tells them apart. Undefined when the process is gone.
 */
export async function runningRoot(pid: number, containerDir: string, timeoutMs = 5000): Promise<string | undefined> {
  const root = `/proc/${pid}/root`;
  const helperDevice = (await stat(containerDir)).dev;
  for (const until = Date.now() + timeoutMs; ; ) {
    const info = await stat(root).catch(() => undefined);
    if (!info) return undefined;
    if (info.dev !== helperDevice) return root;
    if (Date.now() > until) return undefined;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Mounts a stopped container's overlay in a helper namespace and runs `use`
 * with the path that leads to it from the host (and the helper's pid and
 * the mount's path in its namespaces). With `idMap` the namespace maps the
 * caller's subordinate ids, as the container's own does.
 */
export async function withMountedRoot<T>(
  containerDir: string,
  layers: Layer[],
  storeRoot: string,
  caps: SandboxCapabilities,
  use: (root: string, helper: { pid: number; merged: string }) => Promise<T>,
  idMap?: IdMap,
): Promise<T> {
  const work = await mkdtemp(join(containerDir, 'cp-'));
  try {
    await mkdir(join(work, 'l'));
    await mkdir(join(work, 'm'));
    const lowers: string[] = [];
    for (const [i, layer] of layers.entries()) {
      const lower = await extractedLayer(layer, storeRoot);
      if (idMap) await lowerOwners(lower, layer, idMap, caps.tools);
      await symlink(lower.root, join(work, 'l', String(i)));
      lowers.unshift(String(i));
    }
    // The stubs of the last start (mount points) stay a lower, so the view is the one the container had.
    await mkdir(join(containerDir, 's'), { recursive: true });
    await symlink(join(containerDir, 's'), join(work, 'l', 's'));
    lowers.unshift('s');
    const options = [`lowerdir=${lowers.join(':')}`, `upperdir=${join(containerDir, 'u')}`, `workdir=${join(containerDir, 'w')}`];
    options.push(...(caps.rootless ? ['userxattr'] : ['index=off', 'metacopy=off', 'redirect_dir=off']));
    // With subordinate ids the namespace maps them as the container's does, so the image's owners show.
    const ns = caps.rootless ? unshareIdArgs(idMap) : [];
    const script = 'cd "$0/l" && mount -t overlay overlay -o "$1" ../m && echo ready && read -r _';
    const helper = spawn(caps.tools.unshare!, [...ns, '--mount', '--propagation', 'private', '--', caps.tools.sh!, '-c', script, work, options.join(',')], {
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: '/',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
    });
    const closed = new Promise<void>((resolve) => helper.on('close', () => resolve()));
    helper.stdin.on('error', () => {});
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        let err = '';
        helper.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if (/^ready$/m.test(out)) resolve();
        });
        helper.stderr.on('data', (c: Buffer) => (err += c.toString()));
        helper.on('error', reject);
        helper.on('close', () => reject(new SandboxError('SANDBOX_SETUP_FAILED', `cannot mount the container's file system: ${err.trim() || 'the helper exited'}`, { path: containerDir, reason: err.trim() })));
      });
      return await use(`/proc/${helper.pid}/root${join(work, 'm')}`, { pid: helper.pid!, merged: join(work, 'm') });
    } finally {
      helper.stdin.end();
      await closed;
    }
  } finally {
    await removeTree(work);
  }
}
