/**
 * Everything before a sandboxed command starts: the root file system (lower
 * directories or a materialized copy), the mounts and their stubs, the
 * step directory and its fstab files, the workdir, and the argv that starts
 * the namespaces. Shared by the RUN executor and containers.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, symlink, chmod, chown, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunContext, RunStep } from './executor.js';
import { copyStrategy, type CopyRun } from './copy.js';
import { extractedLayer } from './extracted.js';
import { DEFAULT_HOSTNAME, hostsFile, resolvConf, writeStubs } from './files.js';
import { planMounts } from './mounts.js';
import { applyOwners, mapsId, ownersBackScript, OWNERS_FILE, readOwners, unshareIdArgs, type IdMap, type OwnedPath } from './id-map.js';
import { SandboxError } from './errors.js';
import { lowerOwners } from './lower-owners.js';
import { findProgram, HOST_DIRS, type SandboxCapabilities } from './probe.js';
import { prepareStepDir, type MountOp, type StepLayout } from './prepare.js';
import { planStubs, resolveInRoot, type MountPoint } from './rootfs-paths.js';
import { setupScript, type ScriptPlan } from './script.js';
import { openGoFifo, USER_NETWORK } from './user-network.js';
import { homeOf, parsePasswd, withHome } from './users.js';

/** Docker's default capabilities (moby `oci/caps/defaults.go`): the bound of a sandboxed root. */
const DEFAULT_CAPS = ['chown', 'dac_override', 'fsetid', 'fowner', 'mknod', 'net_raw', 'setgid', 'setuid', 'setfcap', 'setpcap', 'net_bind_service', 'sys_chroot', 'kill', 'audit_write'];

/** How to prepare a step. */
export interface PrepareOptions {
  /** The step's directory (exists; an overlay upper `u/` and work `w/` in it are kept). */
  stepDir: string;
  strategy: 'overlay' | 'copy';
  hostname?: string;
  resolvConf?: string;
  /**
   * The command runs on a terminal of its own: the outer namespace mounts a
   * devpts instance and runs util-linux `script` (see {@link ttyInit}).
   */
  tty?: boolean;
  /**
   * Rootless: the caller's subordinate ids (see `id-map.ts`). With them the
   * step's namespace maps root to the caller and 1…N to the range, the lower
   * directories (or the copy) carry the image's owners, and the outer init
   * hands what the command made back to the caller when it ends, listing
   * the owners in `<stepDir>/owners`. Without them one id is mapped.
   */
  idMap?: IdMap;
}

/**
 * The network a sandboxed command gets: the host's (`host`), a namespace
 * with only a loopback (`none`), or a namespace of its own reaching out
 * through slirp4netns (`user`, with the host's loopback not reachable).
 */
export type SandboxNetwork = 'host' | 'none' | 'user';

/** The network a step gets: its own unless it asks for the host's; out through slirp4netns where it can run. */
export function networkOf(step: Pick<RunStep, 'network'>, caps: SandboxCapabilities): SandboxNetwork {
  if (step.network === 'host') return 'host';
  if (step.network === 'none') return 'none';
  return caps.userNetwork ? 'user' : 'none';
}

/** A step ready to start. */
export interface PreparedStep {
  /** `unshare … sh -c SCRIPT sh <final command>`. */
  argv: string[];
  /** The root file system's name in the helper root. */
  rootName: string;
  /** The workdir, resolved. */
  workdir: string;
  /** The user the command runs as (with runc's supplementary groups). */
  user: RunStep['user'];
  /** The setup script's stdin (secrets). */
  input: Buffer;
  /** The network in force; for `user` the caller starts slirp4netns (see `user-network.ts`) once the init's pid is reported. */
  network: SandboxNetwork;
  /** For `user`: the step's FIFO, open read-write; the caller writes the go line and closes it. */
  goFd?: number;
  /** The copy strategy's state, to diff after the command. */
  copy?: CopyRun;
  /**
   * With an id map: where the outer init lists the owners it handed back
   * (see `id-map.ts` `readOwners`), and the image's owners of the copy's
   * files that are not root's.
   */
  owners?: { file: string; image: Map<string, { uid: number; gid: number }> };
  /** Releases cache-mount locks. */
  release(): void;
}

/** Prepares `step` in `options.stepDir` (see the module notes). */
export async function prepareStep(step: RunStep, ctx: RunContext, caps: SandboxCapabilities, options: PrepareOptions): Promise<PreparedStep> {
  const { stepDir, strategy, idMap } = options;
  if (caps.rootless) checkIds(step, idMap);
  let copy: CopyRun | undefined;
  const imageOwners = new Map<string, { uid: number; gid: number }>();
  const owned: OwnedPath[] = [];
  let rootfs: StepLayout['rootfs'];
  if (strategy === 'overlay') {
    await mkdir(join(stepDir, 'l'), { recursive: true });
    const names: string[] = [];
    for (const [i, layer] of ctx.lowers.entries()) {
      const lower = await extractedLayer(layer, ctx.storeRoot);
      if (idMap) await lowerOwners(lower, layer, idMap, caps.tools);
      await symlink(lower.root, join(stepDir, 'l', String(i)));
      names.unshift(String(i));
    }
    await symlink('../s', join(stepDir, 'l', 's'));
    rootfs = { kind: 'overlay', lowers: ['s', ...names], userxattr: caps.rootless };
    // A container's writable layer, handed back to the caller when it last stopped: its owners again.
    if (idMap) await restoreOwners(idMap, caps, join(stepDir, 'u'), join(stepDir, OWNERS_FILE), join(stepDir, 'ids'));
  } else {
    copy = await copyStrategy(ctx, join(stepDir, 'root'));
    rootfs = { kind: 'bind', dir: copy.dir };
  }
  const mounts = await planMounts(step, ctx, stepDir);
  try {
    const hostname = options.hostname ?? DEFAULT_HOSTNAME;
    const network = networkOf(step, caps);
    // Mount points, resolved inside the root file system as the kernel will see them.
    const ops: MountOp[] = [];
    const points: MountPoint[] = [
      { path: '/proc', kind: 'dir' },
      { path: '/dev', kind: 'dir' },
      { path: '/sys', kind: 'dir' },
    ];
    for (const [name, target] of [['hosts', '/etc/hosts'], ['resolv.conf', '/etc/resolv.conf']] as const) {
      const resolved = await resolveInRoot(ctx.rootfs, target);
      points.push({ path: resolved.path, kind: 'file' });
      ops.push({ kind: 'bind', source: join(stepDir, 'f', name), target: resolved.path, readOnly: false });
    }
    for (const mount of mounts.mounts) {
      const resolved = await resolveInRoot(ctx.rootfs, mount.target);
      points.push({ path: resolved.path, kind: mount.kind });
      ops.push({ ...mount.op, target: resolved.path });
    }
    const pipes: StepLayout['pipes'] = [];
    for (const file of step.files ?? []) {
      const name = file.path.slice('/dev/pipes/'.length);
      if (file.path.startsWith('/dev/pipes/') && name !== '' && !name.includes('/')) pipes.push({ name, content: file.content });
    }

    const rootName = randomBytes(16).toString('hex');
    await prepareStepDir({
      stepDir,
      rootName,
      rootfs,
      mounts: ops,
      pipes,
      files: [
        { name: 'hosts', content: hostsFile(hostname) },
        // slirp4netns answers DNS at its own address, relaying to the host's resolvers (loopback ones included).
        { name: 'resolv.conf', content: options.resolvConf ?? (network === 'user' ? `nameserver ${USER_NETWORK.dns}\n` : await resolvConf()) },
      ],
      rootless: caps.rootless,
      newNetwork: network !== 'host',
      devpts: caps.devpts,
      terminal: options.tty === true,
      mqueue: caps.mqueue,
      confine: step.security !== 'insecure',
      hostDirs: HOST_DIRS,
    });
    const stubs = await planStubs(ctx.rootfs, points);
    if (strategy === 'overlay') {
      await writeStubs(join(stepDir, 's'), stubs.shadows, stubs.create);
      // The stubs layer is the top lower: the directories it shadows show its owners, which must be the image's.
      if (idMap) {
        const shadows = stubs.shadows.filter((d) => d.uid !== 0 || d.gid !== 0);
        await applyOwners(idMap, caps.tools, join(stepDir, 's'), shadows.map((d) => ({ path: d.path.slice(1), uid: d.uid, gid: d.gid, mode: d.mode, symlink: false })), join(stepDir, 'ids'));
      }
      await matchRoot(join(stepDir, 'u'), ctx, caps);
    } else {
      await copy!.addStubs(stubs.create);
      // The image's owners, once the caller has made what it makes in the copy (the stubs).
      if (idMap) {
        for (const entry of ctx.rootfs.entries()) {
          if (entry.uid === 0 && entry.gid === 0) continue;
          imageOwners.set(entry.path, { uid: entry.uid, gid: entry.gid });
          owned.push({ path: entry.path.slice(1), uid: entry.uid, gid: entry.gid, mode: entry.mode, symlink: entry.type === 'symlink' });
        }
        await applyOwners(idMap, caps.tools, copy!.dir, owned, join(stepDir, 'ids'));
      }
    }

    // The workdir is created (owned by the step's user) when missing, as BuildKit's executor does.
    const workdir = await resolveInRoot(ctx.rootfs, step.workdir);
    const mkdirs: ScriptPlan['mkdirs'] = [];
    if (workdir.type === undefined) {
      const have = workdir.existing.at(-1)!;
      let at = have === '/' ? '' : have;
      for (const part of workdir.path.slice(at.length).split('/').filter(Boolean)) {
        at += '/' + part;
        mkdirs.push({ path: at, uid: step.user.uid, gid: step.user.gid });
      }
      copy?.keep(mkdirs.map((d) => d.path));
    }

    const user = await withPrimaryGroup(step.user, ctx);
    // HOME from the user's passwd entry when the environment has none (Docker's and BuildKit's rule).
    const env = withHome(step.env, homeOf(parsePasswd(String(await ctx.rootfs.readFile('/etc/passwd', 'utf8').catch(() => ''))), user.uid));
    const script = setupScript({
      stepDir,
      root: `r/${rootName}`,
      secrets: mounts.secrets.map(({ name, data, mode, uid, gid }) => ({ name, size: data.byteLength, mode, uid, gid })),
      mkdirs,
      newNetwork: network !== 'host',
      waitForNetwork: network === 'user',
      hostname,
      hostnameTool: (await (hostnameTool ??= findProgram('hostname').then((p) => p ?? ''))) || undefined,
      singleId: caps.rootless && !idMap,
    });
    const goFd = network === 'user' ? await openGoFifo(caps, stepDir) : undefined;
    return {
      argv: outerArgv(caps, { ...step, env, user }, network, script, rootName, workdir.path, mounts.env, options.tty === true, idMap && {
        map: idMap,
        owned: strategy === 'overlay' ? join(stepDir, 'u') : copy!.dir,
        also: strategy === 'overlay' ? [join(stepDir, 's')] : [],
        owners: join(stepDir, OWNERS_FILE),
      }),
      rootName,
      workdir: workdir.path,
      user,
      input: Buffer.concat(mounts.secrets.map((s) => s.data)),
      network,
      ...(goFd === undefined ? {} : { goFd }),
      ...(copy ? { copy } : {}),
      ...(idMap ? { owners: { file: join(stepDir, OWNERS_FILE), image: imageOwners } } : {}),
      release: mounts.release,
    };
  } catch (err) {
    mounts.release();
    throw err;
  }
}

/**
 * runc's rule for supplementary groups (libcontainer `GetExecUser`): the
 * user's primary group is one of them when /etc/group lists it. The builder
 * hands over only the groups that name the user as a member.
 */
async function withPrimaryGroup(user: RunStep['user'], ctx: RunContext): Promise<RunStep['user']> {
  if (user.additionalGids.includes(user.gid)) return user;
  const text = await ctx.rootfs.readFile('/etc/group', 'utf8').catch(() => undefined);
  if (typeof text !== 'string') return user;
  const listed = text.split('\n').some((line) => line.split(':')[2]?.trim() === String(user.gid));
  return listed ? { ...user, additionalGids: [user.gid, ...user.additionalGids] } : user;
}

let hostnameTool: Promise<string> | undefined;

async function restoreOwners(idMap: IdMap, caps: SandboxCapabilities, upper: string, file: string, listDir: string): Promise<void> {
  const recorded = await readOwners(file);
  if (recorded.size === 0) return;
  const owned: OwnedPath[] = [];
  for (const [path, { uid, gid, mode }] of recorded) owned.push({ path: path.slice(1), uid, gid, mode, symlink: (await lstat(join(upper, path)).catch(() => undefined))?.isSymbolicLink() ?? false });
  await applyOwners(idMap, caps.tools, upper, owned, listDir);
}

/**
 * A rootless step's ids must exist in its user namespace: with subordinate
 * ids, 0…N; without, any uid/gid (a nested namespace maps it), but nothing
 * else can be had.
 */
function checkIds(step: RunStep, idMap: IdMap | undefined): void {
  if (!idMap) return;
  const { uid, gid, additionalGids } = step.user;
  const badUid = !mapsId(idMap.uids, uid);
  const badGid = [gid, ...additionalGids].find((g) => !mapsId(idMap.gids, g));
  if (!badUid && badGid === undefined) return;
  const what = badUid ? `uid ${uid} is beyond the ${idMap.uids.count} subordinate uids` : `gid ${badGid} is beyond the ${idMap.gids.count} subordinate gids`;
  throw new SandboxError('USER_UNSUPPORTED', `the step's user cannot be had rootless: ${what} mapped (see /etc/subuid, /etc/subgid)`, {
    reason: what,
    instruction: step.instruction,
    line: step.location.line,
    column: step.location.column,
  });
}

/** The upperdir is the merged root: it must look like the image's `/`. */
async function matchRoot(upper: string, ctx: RunContext, caps: SandboxCapabilities): Promise<void> {
  const root = await ctx.rootfs.lstat('/');
  await chmod(upper, root.mode & 0o7777);
  if (!caps.rootless) await chown(upper, root.uid, root.gid);
  await utimes(upper, root.mtimeMs / 1000, root.mtimeMs / 1000);
}

/**
 * The shell that is pid 1 of the outer pid namespace: it waits for the inner
 * `unshare` and exits with its status (128 + N for a signal). Not an exec:
 * a namespace's init cannot re-raise a signal on itself, as unshare would.
 */
const OUTER_INIT = '"$@"; code=$?; exit $code';

const TTY_MOUNTS = 'mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts';

/**
 * The outer init of a run on a terminal: a devpts instance of the step's own
 * over `/dev/pts` (and its `ptmx` over `/dev/ptmx`) in a private mount
 * namespace, then util-linux `script` makes the terminal there and runs the
 * rest on it. The caller replaces the rest of the argv by one shell command
 * string (`"$1"`, see `containers/attach.ts`) and gives this init the status
 * channel as stderr. `handBack` runs once the command has ended (the
 * owner hand-back of a sandbox with subordinate ids), so
 * `containers/attach.ts` finds this init by {@link isTtyInit}, not by text.
 */
export function ttyInit(handBack = ''): string {
  return [
    TTY_MOUNTS,
    'mount --bind /dev/pts/ptmx /dev/ptmx',
    `script -qec "$1" /dev/null; code=$?; ${handBack ? `${handBack}; ` : ''}exit $code`,
  ].join('\n');
}

/** Whether an argument is the outer init of a run on a terminal ({@link ttyInit}, with or without a hand-back). */
export function isTtyInit(arg: string): boolean {
  return arg.startsWith(TTY_MOUNTS + '\n');
}

/**
 * `setpriv --pdeathsig KILL -- unshare --pid --fork --kill-child -- sh -c
 * OUTER_INIT -- unshare --mount --pid … --fork -- sh -c SCRIPT sh <final
 * command>`. Two nested pid namespaces tie the step's life to its caller:
 * the caller's death kills the outer `unshare` (parent-death signal), whose
 * own death kills the outer namespace's init (`--kill-child`), and the
 * kernel then kills every process of that namespace — the inner one, with
 * the command, included. The command's own parent-death signal could not
 * do it: it is cleared when the command's uid changes.
 */
function outerArgv(
  caps: SandboxCapabilities,
  step: RunStep,
  network: SandboxNetwork,
  script: string,
  rootName: string,
  workdir: string,
  extraEnv: string[],
  tty: boolean,
  ids?: { map: IdMap; owned: string; owners: string; also: string[] },
): string[] {
  const t = caps.tools;
  // With subordinate ids the init hands what the command made back to the caller once it has ended, on a terminal too.
  const handBack = ids ? ownersBackScript(ids.owned, ids.owners, ids.also) : '';
  const init = tty ? ttyInit(handBack) : ids ? `"$@"; code=$?; ${handBack}; exit $code` : OUTER_INIT;
  const outer = [...(caps.rootless ? unshareIdArgs(ids?.map) : []), ...(tty ? ['--mount', '--propagation', 'private'] : []), '--pid', '--fork', '--kill-child'];
  const inner = ['--mount', '--pid', '--ipc', '--uts', ...(network === 'host' ? [] : ['--net']), '--fork', '--kill-child', '--propagation', 'private'];
  return [
    t.setpriv!, '--pdeathsig', 'KILL', '--',
    t.unshare!, ...outer, '--', t.sh!, '-c', init, 'init',
    t.unshare!, ...inner, '--', t.sh!, '-c', script, 'sh', ...finalCommand(caps, step, rootName, workdir, extraEnv, ids?.map),
  ];
}

/**
 * The command run from the helper root (as the setup's last exec, or by
 * `nsenter` into a running container): `env -i <env>`, then the user's
 * groups, gid and capability bound, then `unshare --root=/<rootName>
 * --wd=<workdir> [-S uid] -- <argv>`.
 */
export function finalCommand(caps: SandboxCapabilities, step: RunStep, rootName: string, workdir: string, extraEnv: string[] = [], idMap?: IdMap): string[] {
  const t = caps.tools;
  const env = [...step.env, ...extraEnv].filter((kv) => kv.indexOf('=') > 0);
  const { uid, gid, additionalGids } = step.user;
  const chroot = [`--root=/${rootName}`, `--wd=${workdir}`];
  const bound = step.security !== 'insecure' ? ['--bounding-set', ['-all', ...DEFAULT_CAPS.map((c) => '+' + c)].join(',')] : [];
  let final: string[];
  if (!caps.rootless || idMap) {
    // Real ids (root, or a user namespace that maps the subordinate ids): setpriv switches to them.
    const groups = additionalGids.length > 0 ? ['--groups', additionalGids.join(',')] : ['--clear-groups'];
    final = [t.setpriv!, ...groups, '--regid', String(gid), ...bound, '--', t.unshare!, ...chroot, ...(uid === 0 ? [] : ['-S', String(uid)]), '--', ...step.argv];
  } else if (uid === 0 && gid === 0) {
    final = [t.setpriv!, ...bound, '--', t.unshare!, ...chroot, '--', ...step.argv];
  } else {
    // One id maps to the caller: a nested user namespace gives the command its uid/gid (no
    // supplementary groups: setgroups is denied there), and everything it sees looks its own.
    final = [t.unshare!, '--user', `--map-user=${uid}`, `--map-group=${gid}`, ...chroot, '--', ...step.argv];
  }
  return [t.env!, '-i', ...env, ...final];
}
