/**
 * The setup script of one sandboxed step: a POSIX shell script run by the
 * host's `/bin/sh` as the first process of the step's new namespaces
 * (`unshare --mount --pid --ipc --uts [--net] [--user] --fork`), with a clean
 * environment. It
 *
 * 1. reports its host pid (the namespace's init: killing it kills the step);
 * 2. reads the step's private files (secrets, `/etc/hosts`, heredoc scripts)
 *    from stdin into a tmpfs that exists only in the namespace;
 * 3. mounts the root file system (overlayfs over the extracted lowers, or a
 *    bind of a materialized copy) at an unguessable name inside another
 *    tmpfs, the *helper root*, and the step's mounts inside it (`/proc`,
 *    `/dev`, `/sys`, hosts files, `RUN --mount`s);
 * 4. bind-mounts the host's system directories read-only into the helper
 *    root and `pivot_root`s into it, so nothing of the host but its
 *    programs remains visible;
 * 5. execs the final command: `env -i <step env> setpriv <groups, gid,
 *    capability bound> unshare --root=/<name> --wd=<workdir> [-S uid] --
 *    <argv>` — the host's util-linux changes root, directory and user,
 *    then execs the step's argv (looked up with the step's PATH inside the
 *    root file system).
 *
 * Setup diagnostics go to fd 3 (not the step's output); the line `exec`
 * there marks the start of the step's own command.
 * @module
 */

/** A mount of the step, with paths relative to the root file system (already resolved inside it). */
export type MountOp =
  | { kind: 'bind'; source: string; target: string; readOnly: boolean }
  /** A bind of one of the step's private files (see {@link SetupPlan.files}). */
  | { kind: 'file'; name: string; target: string; readOnly: boolean; mode: number; uid: number; gid: number }
  | { kind: 'tmpfs'; target: string; size?: number };

/** Everything the setup script needs. */
export interface SetupPlan {
  /** The step's private host directory (holds `u`, `w`, `l`, `s`, `f`, `r`). */
  stepDir: string;
  /** The root file system: overlayfs over lower dirs (top first, relative to `stepDir/l`), or a bind of a directory. */
  rootfs: { kind: 'overlay'; lowers: string[]; userxattr: boolean } | { kind: 'bind'; dir: string };
  /** The unguessable name the root file system is mounted at in the helper root. */
  rootName: string;
  /** Private files read from stdin, in order: name and byte length. */
  files: Array<{ name: string; size: number }>;
  /** Directories to create in the root file system before the command (the workdir), owned by `owner`. */
  mkdirs: Array<{ path: string; uid: number; gid: number }>;
  /** Heredoc scripts to place under `/dev/pipes` (private file name → script name). */
  pipes: Array<{ file: string; name: string }>;
  /** `/etc/hosts` and `/etc/resolv.conf` targets (resolved), as private files. */
  mounts: MountOp[];
  /** A new network namespace (bring `lo` up). */
  newNetwork: boolean;
  hostname: string;
  /** Mask and protect `/proc` and `/sys` as Docker does (false for `--security=insecure`). */
  confine: boolean;
  /** Host directories bound (read-only) into the helper root. */
  hostDirs: string[];
}

/** Quotes a string for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const q = shellQuote;

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const MASKED = ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap'];
const READ_ONLY = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** The script (run as `sh -c SCRIPT sh FINAL-ARGV…`). */
export function setupScript(plan: SetupPlan): string {
  const M = `r/${plan.rootName}`;
  const at = (path: string) => q(M + (path === '/' ? '' : path));
  const lines: string[] = [
    'set -eu',
    // fd 4 keeps the real stderr for the command; setup messages go to fd 3.
    'exec 4>&2 2>&3',
    'read -r pid rest < /proc/self/stat',
    'echo "pid $pid" >&3',
    `cd ${q(plan.stepDir)}`,
    'mount -t tmpfs -o mode=0700,nosuid,nodev tmpfs f',
  ];
  for (const file of plan.files) lines.push(file.size > 0 ? `head -c ${file.size} > f/${q(file.name)}` : `: > f/${q(file.name)}`);
  lines.push('exec 0</dev/null');
  lines.push('mount -t tmpfs -o mode=0755 tmpfs r', `mkdir ${q(M)}`);
  if (plan.rootfs.kind === 'overlay') {
    const options = [`lowerdir=${plan.rootfs.lowers.join(':')}`, 'upperdir=../u', 'workdir=../w'];
    // In a user namespace the kernel allows only userxattr (which rules out
    // redirect_dir and metacopy); as root, turn them off so the upperdir alone
    // records the change.
    options.push(...(plan.rootfs.userxattr ? ['userxattr'] : ['index=off', 'metacopy=off', 'redirect_dir=off']));
    lines.push(`(cd l && mount -t overlay overlay -o ${q(options.join(','))} ${q('../' + M)})`);
  } else {
    lines.push(`mount --bind ${q(plan.rootfs.dir)} ${q(M)}`);
  }
  for (const dir of plan.mkdirs) {
    lines.push(`mkdir -m 0755 ${at(dir.path)}`, `chown ${dir.uid}:${dir.gid} ${at(dir.path)}`);
  }
  lines.push(`mount -t proc -o nosuid,nodev,noexec proc ${at('/proc')}`);
  if (plan.confine) {
    for (const path of MASKED.filter((p) => p.startsWith('/proc/'))) {
      lines.push(`if [ -d ${at(path)} ]; then mount -t tmpfs -o ro,nosuid,nodev,noexec tmpfs ${at(path)}; elif [ -e ${at(path)} ]; then mount --bind /dev/null ${at(path)}; fi`);
    }
    for (const path of READ_ONLY) {
      lines.push(`if [ -e ${at(path)} ]; then mount --bind ${at(path)} ${at(path)} && mount -o remount,bind,ro ${at(path)}; fi`);
    }
  }
  lines.push(
    `mount -t tmpfs -o nosuid,strictatime,mode=0755,size=65536k tmpfs ${at('/dev')}`,
    `for n in ${DEVICES.join(' ')}; do if [ -e /dev/$n ]; then : > ${at('/dev')}/$n; mount --bind /dev/$n ${at('/dev')}/$n; fi; done`,
    `mkdir ${at('/dev/pts')}`,
    `mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts ${at('/dev/pts')} 2>/dev/null || true`,
    `ln -s pts/ptmx ${at('/dev/ptmx')}`,
    `mkdir ${at('/dev/shm')}`,
    `mount -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=65536k shm ${at('/dev/shm')}`,
    `mkdir ${at('/dev/mqueue')}`,
    `mount -t mqueue -o nosuid,nodev,noexec mqueue ${at('/dev/mqueue')} 2>/dev/null || rmdir ${at('/dev/mqueue')}`,
    `ln -s /proc/self/fd ${at('/dev/fd')}`,
    `ln -s /proc/self/fd/0 ${at('/dev/stdin')}`,
    `ln -s /proc/self/fd/1 ${at('/dev/stdout')}`,
    `ln -s /proc/self/fd/2 ${at('/dev/stderr')}`,
    `ln -s /proc/kcore ${at('/dev/core')}`,
  );
  if (plan.pipes.length > 0) {
    lines.push(`mkdir -m 0755 ${at('/dev/pipes')}`);
    for (const pipe of plan.pipes) lines.push(`cp f/${q(pipe.file)} ${at('/dev/pipes/' + pipe.name)}`, `chmod 0755 ${at('/dev/pipes/' + pipe.name)}`);
    lines.push(`mount --bind ${at('/dev/pipes')} ${at('/dev/pipes')}`, `mount -o remount,bind,ro ${at('/dev/pipes')}`);
  }
  // sysfs can only be mounted by the owner of the network namespace; else the host's, read-only.
  lines.push(
    `mount -t sysfs -o ro,nosuid,nodev,noexec sysfs ${at('/sys')} 2>/dev/null || { mount --rbind /sys ${at('/sys')} && mount -o remount,bind,ro,nosuid,nodev,noexec ${at('/sys')}; } 2>/dev/null || true`,
  );
  if (plan.confine) {
    for (const path of MASKED.filter((p) => p.startsWith('/sys/'))) {
      lines.push(`if [ -d ${at(path)} ]; then mount -t tmpfs -o ro,nosuid,nodev,noexec tmpfs ${at(path)} 2>/dev/null || true; fi`);
    }
  }
  for (const mount of plan.mounts) {
    switch (mount.kind) {
      case 'bind':
        lines.push(`mount --rbind ${q(mount.source)} ${at(mount.target)}`);
        if (mount.readOnly) lines.push(`mount -o remount,bind,ro ${at(mount.target)}`);
        break;
      case 'file':
        lines.push(`chmod ${mount.mode.toString(8)} f/${q(mount.name)}`, `chown ${mount.uid}:${mount.gid} f/${q(mount.name)} 2>/dev/null || true`);
        lines.push(`mount --bind f/${q(mount.name)} ${at(mount.target)}`);
        if (mount.readOnly) lines.push(`mount -o remount,bind,ro ${at(mount.target)}`);
        break;
      case 'tmpfs':
        lines.push(`mount -t tmpfs -o ${mount.size === undefined ? 'mode=0755' : `mode=0755,size=${mount.size}`} tmpfs ${at(mount.target)}`);
        break;
    }
  }
  if (plan.newNetwork) lines.push('ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null || true');
  lines.push(`echo ${q(plan.hostname)} > /proc/sys/kernel/hostname 2>/dev/null || hostname ${q(plan.hostname)} 2>/dev/null || true`);
  // The helper root: the host's programs, read-only, and the root file system under its private name.
  for (const dir of plan.hostDirs) {
    const name = dir.slice(1);
    lines.push(
      `if [ -L ${q(dir)} ]; then ln -s "$(readlink ${q(dir)})" ${q('r/' + name)}; elif [ -d ${q(dir)} ]; then mkdir -p ${q('r/' + name)} && mount --rbind ${q(dir)} ${q('r/' + name)} && mount -o remount,bind,ro ${q('r/' + name)}; fi`,
    );
  }
  lines.push(
    'mkdir -p r/etc',
    'if [ -e /etc/ld.so.cache ]; then : > r/etc/ld.so.cache; mount --bind /etc/ld.so.cache r/etc/ld.so.cache; fi',
    'mkdir r/proc r/.old',
    'mount -t proc -o nosuid,nodev,noexec proc r/proc',
    'cd r',
    'pivot_root . .old',
    'umount -l /.old',
    'rmdir /.old',
    'cd /',
    'echo exec >&3',
    'exec 2>&4 3>&- 4>&-',
    'exec "$@"',
  );
  return lines.join('\n') + '\n';
}
