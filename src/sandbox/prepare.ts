/**
 * The step directory, prepared before any process starts: the helper root
 * skeleton, the `/dev` skeleton, the hosts files, and the three fstab files
 * the setup script mounts (see `script.ts`).
 *
 * ```
 * <step>/u  w         overlay upper and work directories
 *        l/0 l/1 … l/s  short names of the lower directories (top: s, the stubs)
 *        s/            mount-point stubs (an overlay lower of its own)
 *        d/            /dev skeleton (device stubs, symlinks, pipes/)
 *        f/            hosts, resolv.conf
 *        p/            secrets (a tmpfs mounted in the namespace only)
 *        r/            helper root; r/<name> is where the root file system is mounted
 *        x/            copies for rw binds and binds from stages
 * ```
 * @module
 */
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { mkdir, symlink, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { fstab, type FstabEntry } from './script.js';

/** A mount of the step, target resolved inside the root file system. */
export type MountOp =
  | { kind: 'bind'; source: string; target: string; readOnly: boolean }
  | { kind: 'tmpfs'; target: string; size?: number };

/** What {@link prepareStepDir} lays out. */
export interface StepLayout {
  stepDir: string;
  /** The root file system's name inside the helper root. */
  rootName: string;
  rootfs: { kind: 'overlay'; lowers: string[]; userxattr: boolean } | { kind: 'bind'; dir: string };
  /** The step's mounts (hosts files, `RUN --mount`), in order. */
  mounts: MountOp[];
  /** Heredoc scripts for `/dev/pipes`. */
  pipes: Array<{ name: string; content: string }>;
  /** Files for `f/` (hosts, resolv.conf). */
  files: Array<{ name: string; content: string }>;
  rootless: boolean;
  /** A new network namespace (sysfs can then be mounted in a user namespace). */
  newNetwork: boolean;
  /** What the probe found mountable: devpts and mqueue instances. */
  devpts: boolean;
  /**
   * The command runs on a terminal made by the caller from a devpts instance
   * of the step's own (mounted over `/dev/pts` in the step's mount
   * namespace, see `prepare-step.ts`): `/dev/pts` is that instance, so the
   * terminal is `/dev/pts/0` inside.
   */
  terminal?: boolean;
  mqueue: boolean;
  /** Mask and protect `/proc` and `/sys` as Docker does (false for `--security=insecure`). */
  confine: boolean;
  /** Host directories bound (read-only) into the helper root. */
  hostDirs: string[];
}

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const DEV_LINKS: Array<[string, string]> = [
  ['fd', '/proc/self/fd'],
  ['stdin', '/proc/self/fd/0'],
  ['stdout', '/proc/self/fd/1'],
  ['stderr', '/proc/self/fd/2'],
  ['core', '/proc/kcore'],
  ['ptmx', 'pts/ptmx'],
];
/** moby's default masked and read-only paths (`oci/defaults.go`). */
const MASKED = ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi'];
const MASKED_SYS = ['/sys/firmware', '/sys/devices/virtual/powercap'];
const READ_ONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Lays out the step directory and writes the fstab files. */
export async function prepareStepDir(layout: StepLayout): Promise<void> {
  const { stepDir } = layout;
  const r = join(stepDir, 'r');
  const root = join(r, layout.rootName);
  for (const sub of ['u', 'w', 'l', 's', 'd', 'f', 'p', 'r', 'x']) await mkdir(join(stepDir, sub), { recursive: true });
  await mkdir(root);
  await mkdir(join(r, 'proc'));
  await mkdir(join(r, '.old'));
  await mkdir(join(r, 'etc'));
  // The container's terminals are reachable from the helper root too (exec -t allocates one there).
  await mkdir(join(r, 'dev/pts'), { recursive: true });
  await symlink('pts/ptmx', join(r, 'dev/ptmx'));
  const hasLdCache = existsSync('/etc/ld.so.cache');
  if (hasLdCache) await writeFile(join(r, 'etc/ld.so.cache'), '');
  const helperBinds: FstabEntry[] = [];
  for (const dir of layout.hostDirs) {
    const info = lstatOrUndefined(dir);
    if (!info) continue;
    const at = join(r, dir.slice(1));
    if (info.isSymbolicLink()) await symlink(readlinkSync(dir), at);
    else if (info.isDirectory()) {
      await mkdir(at, { recursive: true });
      helperBinds.push({ source: dir, target: at, type: 'none', options: 'rbind,ro' });
    }
  }
  if (hasLdCache) helperBinds.push({ source: '/etc/ld.so.cache', target: join(r, 'etc/ld.so.cache'), type: 'none', options: 'bind,ro' });
  helperBinds.push({ source: 'proc', target: join(r, 'proc'), type: 'proc', options: 'nosuid,nodev,noexec' });

  // /dev: a fresh tmpfs (nodev: a node made there cannot be opened) filled from this skeleton by the
  // setup script; the few devices Docker gives a container are bound over its stubs.
  const d = join(stepDir, 'd');
  for (const sub of ['pts', 'shm', 'mqueue']) await mkdir(join(d, sub));
  await chmod(join(d, 'shm'), 0o1777);
  const devices = DEVICES.filter((n) => existsSync(`/dev/${n}`));
  for (const name of devices) await writeFile(join(d, name), '');
  for (const [name, target] of DEV_LINKS) await symlink(target, join(d, name));
  if (layout.pipes.length > 0) {
    await mkdir(join(d, 'pipes'));
    for (const pipe of layout.pipes) await writeFile(join(d, 'pipes', pipe.name), pipe.content, { mode: 0o755 });
  }
  for (const file of layout.files) await writeFile(join(stepDir, 'f', file.name), file.content, { mode: 0o644 });

  // nodev on every mount the command can write to: root may mknod (Docker's default capabilities
  // allow it) but never open a device it made, which is what Docker's device cgroup guarantees.
  const first: FstabEntry[] = [{ source: r, target: r, type: 'none', options: 'bind,nosuid,nodev' }];
  if (layout.rootfs.kind === 'overlay') {
    const options = [`lowerdir=${layout.rootfs.lowers.join(':')}`, 'upperdir=../u', 'workdir=../w'];
    // In a user namespace only userxattr is allowed (which rules out redirect_dir
    // and metacopy); as root, turn them off so the upperdir alone records the change.
    options.push(...(layout.rootfs.userxattr ? ['userxattr'] : ['index=off', 'metacopy=off', 'redirect_dir=off']));
    first.push({ source: 'overlay', target: root, type: 'overlay', options: `nodev,${options.join(',')}` });
  } else {
    first.push({ source: layout.rootfs.dir, target: root, type: 'none', options: 'bind,nodev' });
  }
  first.push({ source: 'proc', target: join(root, 'proc'), type: 'proc', options: 'nosuid,nodev,noexec' });
  first.push({ source: 'tmpfs', target: join(root, 'dev'), type: 'tmpfs', options: 'nosuid,nodev,mode=755,size=65536k' });

  const second: FstabEntry[] = [];
  for (const name of devices) second.push({ source: `/dev/${name}`, target: join(root, 'dev', name), type: 'none', options: 'bind' });
  second.push({ source: 'shm', target: join(root, 'dev/shm'), type: 'tmpfs', options: 'nosuid,nodev,noexec,mode=1777,size=65536k' });
  if (layout.pipes.length > 0) second.push({ source: join(d, 'pipes'), target: join(root, 'dev/pipes'), type: 'none', options: 'bind,ro' });
  if (layout.terminal) second.push({ source: '/dev/pts', target: join(root, 'dev/pts'), type: 'none', options: 'bind' });
  else if (layout.devpts) second.push({ source: 'devpts', target: join(root, 'dev/pts'), type: 'devpts', options: 'newinstance,ptmxmode=0666,mode=0620' });
  if (layout.terminal || layout.devpts) second.push({ source: join(root, 'dev/pts'), target: join(r, 'dev/pts'), type: 'none', options: 'bind' });
  if (layout.mqueue) second.push({ source: 'mqueue', target: join(root, 'dev/mqueue'), type: 'mqueue', options: 'nosuid,nodev,noexec' });
  // sysfs belongs to the network namespace: in a user namespace sharing the host's network, bind the host's, read-only.
  second.push(
    layout.rootless && !layout.newNetwork
      ? { source: '/sys', target: join(root, 'sys'), type: 'none', options: 'rbind,ro,nosuid,nodev,noexec' }
      : { source: 'sysfs', target: join(root, 'sys'), type: 'sysfs', options: 'ro,nosuid,nodev,noexec' },
  );
  if (layout.confine) {
    for (const path of MASKED) {
      const info = lstatOrUndefined(path);
      if (!info) continue;
      second.push(
        info.isDirectory()
          ? { source: 'tmpfs', target: join(root, path), type: 'tmpfs', options: 'ro,nosuid,nodev,noexec,size=0' }
          : { source: '/dev/null', target: join(root, path), type: 'none', options: 'bind' },
      );
    }
    for (const path of READ_ONLY) {
      if (lstatOrUndefined(path)) second.push({ source: join(root, path), target: join(root, path), type: 'none', options: 'bind,ro' });
    }
  }
  for (const mount of layout.mounts) {
    const target = join(root, mount.target);
    if (mount.kind === 'tmpfs') {
      second.push({ source: 'tmpfs', target, type: 'tmpfs', options: mount.size === undefined ? 'nosuid,nodev,mode=0755' : `nosuid,nodev,mode=0755,size=${mount.size}` });
    } else {
      second.push({ source: mount.source, target, type: 'none', options: mount.readOnly ? 'rbind,ro,nodev' : 'rbind,nodev' });
    }
  }
  second.push(...helperBinds);

  if (layout.confine) {
    for (const path of MASKED_SYS) if (lstatOrUndefined(path)?.isDirectory()) second.push({ source: 'tmpfs', target: join(root, path), type: 'tmpfs', options: 'ro,size=0' });
  }
  // Two passes: the /dev tmpfs is filled (and the workdir made) between them.
  await writeFile(join(stepDir, 'fstab.1'), fstab(first));
  await writeFile(join(stepDir, 'fstab.2'), fstab(second));
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
