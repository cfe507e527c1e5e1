/**
 * The sandbox executor: each RUN as a real process in the stage's root file
 * system, in its own mount, pid, ipc and uts namespaces (and network, for
 * `--network=none`), rootless through a user namespace when the caller is
 * not root. See `docs/run.md` for the design and its limits.
 * @module
 */
import { mkdir, mkdtemp, symlink, chmod, chown, utimes } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { RunFailedError } from '../errors.js';
import type { RunContext, RunExecutor, RunStep } from '../executor.js';
import type { Layer } from '../../layers/layer.js';
import { layerFromEntries } from '../../layers/from-entries.js';
import { copyStrategy, type CopyRun } from './copy.js';
import { SandboxError } from './errors.js';
import { extractedLayer } from './extracted.js';
import { DEFAULT_HOSTNAME, hostsFile, removeTree, resolvConf, writeStubs } from './files.js';
import { planMounts } from './mounts.js';
import { HOST_DIRS, probeSandbox, type SandboxCapabilities } from './probe.js';
import { runSandbox } from './process.js';
import { releasingLayer, type ReleasingLayer } from './released-layer.js';
import { planStubs, resolveInRoot, type MountPoint } from './rootfs-paths.js';
import { setupScript, type ScriptPlan } from './script.js';
import { prepareStepDir, type MountOp, type StepLayout } from './prepare.js';
import { upperEntries } from './upper-layer.js';

/** Options of {@link sandboxExecutor}. */
export interface SandboxExecutorOptions {
  /**
   * How the root file system is provided: `overlay` (kernel overlayfs over
   * the extracted layers; the upperdir is the layer), `copy` (the view
   * materialized into a directory, diffed after the command), or `auto`
   * (default: overlay where the kernel allows it).
   */
  strategy?: 'overlay' | 'copy' | 'auto';
  /** Kill a step that runs longer than this (a `RUN_TIMEOUT` error). */
  timeoutMs?: number;
  /** Where step directories go (default `<store>/tmp`): must be a file system overlayfs accepts as upper. */
  tmpDir?: string;
  /** The hostname inside the sandbox (default `buildkitsandbox`, as BuildKit). */
  hostname?: string;
  /** The `/etc/resolv.conf` given to steps (default the host's, else public resolvers). */
  resolvConf?: string;
  /** Bytes of output kept for the error of a failing command (default 4096). */
  outputTailBytes?: number;
}

/** A {@link RunExecutor} that can also release what it still holds. */
export interface SandboxExecutor extends RunExecutor {
  /** The options in force. */
  readonly options: Readonly<SandboxExecutorOptions>;
  /** Removes the files of layers returned but never read. */
  dispose(): Promise<void>;
}

/** Docker's default capabilities (moby `oci/caps/defaults.go`): the bound of a sandboxed root. */
const DEFAULT_CAPS = ['chown', 'dac_override', 'fsetid', 'fowner', 'mknod', 'net_raw', 'setgid', 'setuid', 'setfcap', 'setpcap', 'net_bind_service', 'sys_chroot', 'kill', 'audit_write'];

/** Overlayfs stacks at most 500 lower layers; keep room for the stubs layer. */
const MAX_OVERLAY_LOWERS = 498;

const pending = new Set<ReleasingLayer>();
let exitHook = false;

/**
 * The sandbox executor. On Linux with util-linux it runs each RUN as a real
 * process, isolated in namespaces, and returns its change as a layer.
 *
 * @example
 * ```ts
 * import { build, sandboxExecutor } from 'layerkit';
 *
 * const executor = sandboxExecutor({ strategy: 'auto', timeoutMs: 10 * 60_000 });
 * const result = await build({ context: '.', executor, sourceDateEpoch: 0 });
 * ```
 */
export function sandboxExecutor(options: SandboxExecutorOptions = {}): SandboxExecutor {
  return {
    options,
    async run(step, ctx) {
      const caps = await probeSandbox();
      if (!caps.available) {
        throw new SandboxError('SANDBOX_UNAVAILABLE', `RUN cannot be sandboxed here: ${caps.reason}`, { reason: caps.reason ?? 'unknown', ...position(step) });
      }
      return runStep(step, ctx, caps, options);
    },
    async dispose() {
      await Promise.all([...pending].map((layer) => layer.release()));
    },
  };
}

function position(step: RunStep): { instruction: string; line: number; column: number } {
  return { instruction: step.instruction, line: step.location.line, column: step.location.column };
}

function chooseStrategy(step: RunStep, ctx: RunContext, caps: SandboxCapabilities, options: SandboxExecutorOptions): 'overlay' | 'copy' {
  const wanted = options.strategy ?? 'auto';
  if (wanted === 'copy') return 'copy';
  const fits = ctx.lowers.length <= MAX_OVERLAY_LOWERS;
  if (wanted === 'overlay') {
    if (!caps.overlay) throw new SandboxError('SANDBOX_UNAVAILABLE', 'overlayfs cannot be mounted here; use strategy copy or auto', { reason: 'overlay refused', ...position(step) });
    if (!fits) throw new SandboxError('SANDBOX_UNAVAILABLE', `${ctx.lowers.length} layers exceed what overlayfs can stack`, { reason: 'too many layers', ...position(step) });
    return 'overlay';
  }
  return caps.overlay && fits ? 'overlay' : 'copy';
}

async function runStep(step: RunStep, ctx: RunContext, caps: SandboxCapabilities, options: SandboxExecutorOptions): Promise<{ layer: Layer | null }> {
  ctx.signal?.throwIfAborted();
  const strategy = chooseStrategy(step, ctx, caps, options);
  const base = options.tmpDir ?? join(ctx.storeRoot, 'tmp');
  await mkdir(base, { recursive: true });
  const stepDir = await mkdtemp(join(base, 'step-'));
  let handedOver = false;
  let releaseMounts = () => {};
  try {
    let copy: CopyRun | undefined;
    let rootfs: StepLayout['rootfs'];
    if (strategy === 'overlay') {
      await mkdir(join(stepDir, 'l'));
      const names: string[] = [];
      for (const [i, layer] of ctx.lowers.entries()) {
        const lower = await extractedLayer(layer, ctx.storeRoot);
        await symlink(lower.root, join(stepDir, 'l', String(i)));
        names.unshift(String(i));
      }
      await symlink('../s', join(stepDir, 'l', 's'));
      rootfs = { kind: 'overlay', lowers: ['s', ...names], userxattr: caps.rootless };
    } else {
      copy = await copyStrategy(ctx, join(stepDir, 'root'));
      rootfs = { kind: 'bind', dir: copy.dir };
    }

    const mounts = await planMounts(step, ctx, stepDir);
    releaseMounts = mounts.release;
    const hostname = options.hostname ?? DEFAULT_HOSTNAME;

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
    for (const file of (step as { files?: Array<{ path: string; content: string }> }).files ?? []) {
      if (file.path.startsWith('/dev/pipes/') && !file.path.slice(11).includes('/')) pipes.push({ name: file.path.slice(11), content: file.content });
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
        { name: 'resolv.conf', content: options.resolvConf ?? (await resolvConf()) },
      ],
      rootless: caps.rootless,
      newNetwork: step.network === 'none',
      devpts: caps.devpts,
      mqueue: caps.mqueue,
      confine: step.security !== 'insecure',
      hostDirs: HOST_DIRS,
    });
    const stubs = await planStubs(ctx.rootfs, points);
    if (strategy === 'overlay') {
      await writeStubs(join(stepDir, 's'), stubs.shadows, stubs.create);
      await matchRoot(join(stepDir, 'u'), ctx, caps);
    } else {
      await copy!.addStubs(stubs.create);
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
    const script = setupScript({
      stepDir,
      root: `r/${rootName}`,
      secrets: mounts.secrets.map(({ name, data, mode, uid, gid }) => ({ name, size: data.byteLength, mode, uid, gid })),
      mkdirs,
      newNetwork: step.network === 'none',
      hostname,
    });
    const exit = await runSandbox({
      argv: outerArgv(caps, { ...step, user }, script, rootName, workdir.path, mounts.env),
      input: Buffer.concat(mounts.secrets.map((s) => s.data)),
      onOutput: (stream, chunk) => ctx.onOutput(stream, chunk),
      signal: ctx.signal,
      timeoutMs: options.timeoutMs,
      tailBytes: options.outputTailBytes ?? 4096,
    });
    releaseMounts();
    if (exit.stopped === 'abort') {
      throw new SandboxError('RUN_ABORTED', 'the step was aborted; its processes were killed', { reason: String(ctx.signal?.reason ?? 'aborted'), ...position(step) }, { cause: ctx.signal?.reason });
    }
    if (exit.stopped === 'timeout') {
      throw new SandboxError('RUN_TIMEOUT', `the step ran longer than ${options.timeoutMs} ms; its processes were killed`, { reason: 'timeout', ...position(step) });
    }
    if (!exit.started) {
      throw new SandboxError('SANDBOX_SETUP_FAILED', `the sandbox could not be set up: ${exit.setupLog.split('\n').pop() ?? ''}`, { reason: exit.setupLog, ...position(step) });
    }
    if (exit.exitCode !== 0) {
      throw new RunFailedError({
        command: step.argv,
        exitCode: exit.exitCode,
        outputTail: exit.tail,
        line: step.location.line,
        column: step.location.column,
        instruction: step.instruction,
        ...(step.stage === undefined ? {} : { stage: step.stage }),
      });
    }

    const epoch = ctx.sourceDateEpoch;
    const whiteoutMtime = epoch ?? 0;
    const stepUser = { uid: step.user.uid, gid: step.user.gid };
    const owners = caps.rootless ? { hostIds: { uid: process.getuid!(), gid: process.getgid!() }, stepUser } : { stepUser };
    const entries =
      strategy === 'overlay'
        ? await upperEntries(join(stepDir, 'u'), ctx.rootfs, owners, { whiteoutMtime })
        : await copy!.changes(owners, { whiteoutMtime });
    if (entries.length === 0) return { layer: null };
    const layer = releasingLayer(layerFromEntries(entries, epoch === undefined ? {} : { sourceDateEpoch: epoch }), async () => {
      pending.delete(layer);
      await removeTree(stepDir);
    });
    track(layer);
    ctx.signal?.addEventListener('abort', () => void layer.release(), { once: true });
    handedOver = true;
    return { layer };
  } finally {
    releaseMounts();
    if (!handedOver) await removeTree(stepDir);
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

function track(layer: ReleasingLayer): void {
  pending.add(layer);
  if (!exitHook) {
    exitHook = true;
    // Last resort: layers never read are removed when the process ends.
    process.once('exit', () => {
      for (const l of pending) void l.release();
    });
  }
}

/** The upperdir is the merged root: it must look like the image's `/`. */
async function matchRoot(upper: string, ctx: RunContext, caps: SandboxCapabilities): Promise<void> {
  const root = await ctx.rootfs.lstat('/');
  await chmod(upper, root.mode & 0o7777);
  if (!caps.rootless) await chown(upper, root.uid, root.gid);
  await utimes(upper, root.mtimeMs / 1000, root.mtimeMs / 1000);
}

/** `unshare … sh -c SCRIPT sh <final command>`: the namespaces, the setup, and the step's command. */
function outerArgv(caps: SandboxCapabilities, step: RunStep, script: string, rootName: string, workdir: string, extraEnv: string[]): string[] {
  const t = caps.tools;
  const newNetwork = step.network === 'none';
  const namespaces = [...(caps.rootless ? ['--user', '--map-root-user'] : []), '--mount', '--pid', '--ipc', '--uts', ...(newNetwork ? ['--net'] : [])];
  const env = [...step.env, ...extraEnv].filter((kv) => kv.indexOf('=') > 0);
  const { uid, gid, additionalGids } = step.user;
  const chroot = [`--root=/${rootName}`, `--wd=${workdir}`];
  const bound = step.security !== 'insecure' ? ['--bounding-set', ['-all', ...DEFAULT_CAPS.map((c) => '+' + c)].join(',')] : [];
  let final: string[];
  if (!caps.rootless) {
    const groups = additionalGids.length > 0 ? ['--groups', additionalGids.join(',')] : ['--clear-groups'];
    final = [t.setpriv!, ...groups, '--regid', String(gid), ...bound, '--', t.unshare!, ...chroot, ...(uid === 0 ? [] : ['-S', String(uid)]), '--', ...step.argv];
  } else if (uid === 0 && gid === 0) {
    final = [t.setpriv!, ...bound, '--', t.unshare!, ...chroot, '--', ...step.argv];
  } else {
    // One id maps to the caller: a nested user namespace gives the command its uid/gid.
    final = [t.unshare!, '--user', `--map-user=${uid}`, `--map-group=${gid}`, ...chroot, '--', ...step.argv];
  }
  return [t.unshare!, ...namespaces, '--fork', '--propagation', 'private', '--', t.sh!, '-c', script, 'sh', t.env!, '-i', ...env, ...final];
}
