/**
 * What this machine lets the sandbox do: the tools it runs (util-linux,
 * coreutils, attr), whether namespaces can be created (as root, or
 * unprivileged through a user namespace), and whether overlayfs can be
 * mounted inside them. Probed once per process by actually doing it, in
 * a private mount namespace on a tmpfs mounted over an existing directory
 * there: the probe writes nothing to the host's file systems (no directory
 * in `$TMPDIR` for a killed process to leave behind).
 * @module
 */
import { execFile } from 'node:child_process';
import { access, constants, realpath, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { shellQuote } from './script.js';

/**
 * The outcome of {@link probeSandbox}.
 *
 * @example
 * ```ts
 * const caps: SandboxCapabilities = await probeSandbox();
 * if (caps.available && !caps.overlay) console.warn('RUN will use the copy strategy');
 * ```
 */
export interface SandboxCapabilities {
  /** Sandboxed RUN steps can be executed here. */
  available: boolean;
  /** Why not, when not available. */
  reason?: string;
  /** Namespaces are made inside a user namespace (the caller is not root). */
  rootless: boolean;
  /** overlayfs can be mounted in the namespaces (else only the `copy` strategy works). */
  overlay: boolean;
  /** A private devpts instance (`/dev/pts`) can be mounted in the namespaces. */
  devpts: boolean;
  /** A POSIX message queue file system (`/dev/mqueue`) can be mounted in the namespaces. */
  mqueue: boolean;
  /**
   * A namespace of its own can reach out through slirp4netns (installed, and
   * `/dev/net/tun` usable by this process); without it, a step or container
   * that does not ask for the host's network gets only a loopback.
   */
  userNetwork: boolean;
  /** Absolute paths of the programs the sandbox runs. */
  tools: Record<string, string>;
}

/** Host programs the sandbox needs, and the package that has them on Debian. */
export const REQUIRED_TOOLS: Record<string, string> = {
  unshare: 'util-linux',
  setpriv: 'util-linux',
  mount: 'mount',
  umount: 'mount',
  pivot_root: 'util-linux',
  env: 'coreutils',
  head: 'coreutils',
  install: 'coreutils',
  cp: 'coreutils',
  mknod: 'coreutils',
  getfattr: 'attr',
  setfattr: 'attr',
  sh: 'dash',
};

/** Host directories bound (read-only) into the helper root: where the tools and their libraries live. */
export const HOST_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** Finds a program on PATH (and the usual system directories). */
export async function findProgram(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

let probed: Promise<SandboxCapabilities> | undefined;

/**
 * Probes (once per process) whether sandboxed RUN steps work here.
 *
 * @example
 * ```ts
 * const caps = await probeSandbox();
 * if (!caps.available) console.warn(`RUN steps need a sandbox: ${caps.reason}`);
 * ```
 */
export function probeSandbox(): Promise<SandboxCapabilities> {
  probed ??= doProbe();
  return probed;
}

/**
 * True when sandboxed RUN steps can be executed on this machine.
 *
 * @example
 * ```ts
 * const executor = (await canUseSandbox()) ? sandboxExecutor() : handlerExecutor(myHandler);
 * ```
 */
export async function canUseSandbox(): Promise<boolean> {
  return (await probeSandbox()).available;
}

async function doProbe(): Promise<SandboxCapabilities> {
  const rootless = process.getuid?.() !== 0;
  const tools: Record<string, string> = {};
  const fail = (reason: string): SandboxCapabilities => ({ available: false, reason, rootless, overlay: false, devpts: false, mqueue: false, userNetwork: false, tools });
  if (process.platform !== 'linux') return fail(`namespaces need Linux (this is ${process.platform})`);
  for (const [name, pkg] of Object.entries(REQUIRED_TOOLS)) {
    const found = await findProgram(name);
    if (!found) return fail(`${name} not found (Debian package ${pkg})`);
    const real = await realpath(found);
    // The tools run from the helper root, which holds only the host's system directories.
    if (!HOST_DIRS.some((dir) => real.startsWith(dir + '/'))) return fail(`${name} is at ${real}, outside ${HOST_DIRS.join(', ')}`);
    tools[name] = found;
  }
  // Any directory will do as the mount point: the tmpfs covers it in the probe's namespace only.
  const dir = (await stat('/tmp').then((s) => s.isDirectory(), () => false)) ? '/tmp' : '/dev';
  const script = [
    'set -e',
    // Mounted first, entered after: a directory entered before the mount would still be the host's.
    `mount -t tmpfs tmpfs ${shellQuote(dir)}`,
    `cd ${shellQuote(dir)}`,
    'mkdir l u w m p q',
    'echo namespaces',
    'mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts p && echo devpts || true',
    'mount -t mqueue -o nosuid,nodev,noexec mqueue q && echo mqueue || true',
    `mount -t overlay overlay -o lowerdir=l,upperdir=u,workdir=w${rootless ? ',userxattr' : ''} m`,
    'echo overlay',
  ].join('\n');
  const ns = rootless ? ['--user', '--map-root-user'] : [];
  const out = await new Promise<string>((resolve) => {
    execFile(tools.unshare!, [...ns, '--mount', '--pid', '--ipc', '--uts', '--fork', '--propagation', 'private', tools.sh!, '-c', script], (err, stdout, stderr) => {
      resolve(String(stdout) + (err ? `\n${String(stderr).trim()}` : ''));
    });
  });
  if (!/^namespaces$/m.test(out)) {
    return fail(`cannot create namespaces${rootless ? ' in an unprivileged user namespace' : ''}: ${out.trim().split('\n').pop() ?? ''}`);
  }
  const slirp = await findProgram('slirp4netns');
  if (slirp) tools.slirp4netns = slirp;
  const tun = await access('/dev/net/tun', constants.R_OK | constants.W_OK).then(() => true, () => false);
  return { available: true, rootless, overlay: /^overlay$/m.test(out), devpts: /^devpts$/m.test(out), mqueue: /^mqueue$/m.test(out), userNetwork: slirp !== undefined && tun, tools };
}
