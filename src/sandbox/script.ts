/**
 * The setup of one sandboxed step. Process starts are what a step's setup
 * costs (tens of milliseconds each on a busy machine), so almost everything
 * is prepared by the executor as files in the step's directory and the
 * mounts are made by `mount --all --fstab` over generated fstab files. The
 * script, run by the host's `/bin/sh` as the first process of the step's
 * namespaces (see `prepare-step.ts` for the two nested pid namespaces that
 * tie the step's life to its caller), with a clean environment:
 *
 * 1. reports its host pid and start time on the status channel (the
 *    namespace's init: killing it kills every process of the step);
 * 2. reads secrets from stdin into a tmpfs that exists only in the
 *    namespace (never on the host's disk);
 * 3. mounts, with `mount --all --fstab` in two passes, the *helper root*
 *    (`r`, a directory of the step bound on itself), the root file system
 *    at an unguessable name inside it (overlayfs over the extracted lowers,
 *    or a bind of a materialized copy), `/proc`, `/dev` (a new tmpfs filled
 *    from a prepared skeleton, the host's few devices bound over its
 *    stubs, devpts, shm, mqueue), `/sys`, hosts files, `RUN --mount`s,
 *    Docker's masks, and the host's system directories read-only into the
 *    helper root; every writable mount is `nodev`; then, with a user-mode
 *    network, waits for the caller's go (a line on the step's FIFO) once
 *    slirp4netns, started meanwhile, is up;
 * 4. `pivot_root`s into the helper root, so nothing of the host but its
 *    programs remains reachable;
 * 5. execs the final command: `env -i <step env> setpriv … unshare
 *    --root=/<name> --wd=<workdir> [-S uid] -- <argv>` — the host's
 *    util-linux changes root, directory and user, then execs the step's
 *    argv (looked up with the step's PATH inside the root file system).
 *
 * The status channel is the namespace tools' stderr (fd 2 as started; the
 * command's real stderr arrives as fd 3): setup diagnostics and the tools'
 * own messages never reach the step's output. The line `exec` there marks
 * the start of the step's own command.
 * @module
 */

/** Quotes a string for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Escapes a path or option for an fstab field (space, tab, newline, backslash as octal). */
export function fstabEscape(value: string): string {
  return value.replace(/[\\ \t\n]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'));
}

/** One fstab line. */
export interface FstabEntry {
  source: string;
  target: string;
  type: string;
  options: string;
}

/** fstab text for `mount --all --fstab`. */
export function fstab(entries: FstabEntry[]): string {
  return entries.map((e) => `${fstabEscape(e.source)} ${fstabEscape(e.target)} ${e.type} ${fstabEscape(e.options)} 0 0\n`).join('');
}

/** What the setup script does, beyond the fstab files. */
export interface ScriptPlan {
  /** The step's directory (holds `l`, `d`, `p`, `r`, the fstab files). */
  stepDir: string;
  /** The root file system's path, relative to the step directory (`r/<name>`). */
  root: string;
  /** Secrets read from stdin into `p/<name>`, in order, with their file mode and owner. */
  secrets: Array<{ name: string; size: number; mode: number; uid: number; gid: number }>;
  /** Directories to create in the root file system (the workdir), with their owner. */
  mkdirs: Array<{ path: string; uid: number; gid: number }>;
  /** A new network namespace: bring `lo` up. */
  newNetwork: boolean;
  /** Wait for `1` on the step's FIFO `go` before the command starts: the user-mode network is being set up. */
  waitForNetwork?: boolean;
  hostname: string;
  /**
   * The host's `hostname` program. In a user namespace `/proc/sys/kernel/hostname`
   * cannot be written (sysctl files answer only to the host's root), but the
   * namespace's root may call sethostname(2) for its own UTS namespace.
   */
  hostnameTool?: string;
  /** Secrets and workdirs keep the caller's ids (a user namespace that maps one id: nothing can be chowned). */
  singleId?: boolean;
}

const q = shellQuote;

/** The script (run as `sh -c SCRIPT sh FINAL-ARGV…`). */
export function setupScript(plan: ScriptPlan): string {
  const lines: string[] = [
    'set -eu',
    // The namespace tools' own stderr is the status channel (fd 2 as started): their messages are
    // setup diagnostics, never the command's output. fd 3 arrives as the command's real stderr.
    'exec 4>&3 3>&2',
    // The host pid and start time (field 22) of this process, which becomes the command: pid 1.
    'read -r pid _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ start _ < /proc/self/stat',
    'echo "pid $pid $start" >&3',
    `cd ${q(plan.stepDir)}`,
  ];
  if (plan.secrets.length > 0) {
    lines.push('mount -t tmpfs -o mode=0700,nosuid,nodev,noexec,size=16m tmpfs p');
    for (const s of plan.secrets) lines.push(s.size > 0 ? `head -c ${s.size} > p/${q(s.name)}` : `: > p/${q(s.name)}`);
    for (const s of plan.secrets) {
      lines.push(`chmod ${s.mode.toString(8)} p/${q(s.name)}`);
      if ((s.uid !== 0 || s.gid !== 0) && !plan.singleId) lines.push(`chown ${s.uid}:${s.gid} p/${q(s.name)}`);
    }
  }
  lines.push('exec 0</dev/null');
  // lowerdir names are relative to l/ (short: the option string is limited to a page).
  lines.push('(cd l && mount --all --fstab ../fstab.1)', `cp -a d/. ${q(plan.root + '/dev/')}`);
  const byOwner = new Map<string, string[]>();
  for (const dir of plan.mkdirs) byOwner.set(`${dir.uid}:${dir.gid}`, [...(byOwner.get(`${dir.uid}:${dir.gid}`) ?? []), dir.path]);
  for (const [owner, paths] of byOwner) {
    const [uid, gid] = owner.split(':');
    const ids = plan.singleId ? '' : `-o ${uid} -g ${gid} `;
    lines.push(`install -d -m 0755 ${ids}${paths.map((p) => q(plan.root + p)).join(' ')}`);
  }
  lines.push('mount --all --fstab fstab.2');
  // Released by the caller once the network namespace has its user-mode stack (started while the mounts were made).
  if (plan.waitForNetwork) {
    lines.push('go=; read -r go < go || true', '[ "$go" = 1 ] || { echo "the user-mode network (slirp4netns) could not be started" >&3; exit 1; }');
  }
  if (plan.newNetwork) lines.push('ip link set lo up 2>/dev/null || ifconfig lo up 2>/dev/null || true');
  lines.push(
    `${plan.hostnameTool ? `${q(plan.hostnameTool)} ${q(plan.hostname)} 2>/dev/null || ` : ''}echo ${q(plan.hostname)} > /proc/sys/kernel/hostname 2>/dev/null || true`,
    'cd r',
    'pivot_root . .old',
    'umount -l /.old',
    'cd /',
    'echo exec >&3',
    'exec 2>&4 3>&- 4>&-',
    'exec "$@"',
  );
  return lines.join('\n') + '\n';
}
