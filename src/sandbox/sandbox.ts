/**
 * The sandbox executor: each RUN as a real process in the stage's root file
 * system, in its own mount, pid, ipc, uts and network namespaces (the
 * network reaching out through slirp4netns; `--network=host` shares the
 * host's, `none` has only a loopback), rootless through a user namespace
 * when the caller is not root. See `docs/run.md` for the design and its
 * limits.
 * @module
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { RunFailedError } from './errors.js';
import type { RunContext, RunExecutor, RunResult, RunStep } from './executor.js';
import { layerFromEntries } from '../layers/from-entries.js';
import { SandboxError } from './errors.js';
import { removeTree } from './files.js';
import { atExit } from '../exit-cleanups.js';
import { probeSandbox, type SandboxCapabilities } from './probe.js';
import { runSandbox } from './process.js';
import { releasingLayer, type ReleasingLayer } from './released-layer.js';
import { upperEntries } from './upper-layer.js';
import { prepareStep } from './prepare-step.js';
import { readOwners, removeMappedTree, sandboxIds, type IdMapProbe } from './id-map.js';

/**
 * Options of {@link sandboxExecutor}.
 *
 * @example
 * ```ts
 * const options: SandboxExecutorOptions = { strategy: 'copy', timeoutMs: 60_000, hostname: 'builder' };
 * ```
 */
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

/**
 * A {@link RunExecutor} that can also release what it still holds.
 *
 * @example
 * ```ts
 * const executor: SandboxExecutor = sandboxExecutor();
 * try {
 *   await build({ context: '.', executor });
 * } finally {
 *   await executor.dispose();
 * }
 * ```
 */
export interface SandboxExecutor extends RunExecutor {
  /** The options in force. */
  readonly options: Readonly<SandboxExecutorOptions>;
  /** Removes the files of layers returned but never read. */
  dispose(): Promise<void>;
}

/** Overlayfs stacks at most 500 lower layers; keep room for the stubs layer. */
const MAX_OVERLAY_LOWERS = 498;

/** Layers handed out and not yet released, with their step directories. */
const pending = new Map<ReleasingLayer, string>();
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
      await Promise.all([...pending.keys()].map((layer) => layer.release()));
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

async function runStep(step: RunStep, ctx: RunContext, caps: SandboxCapabilities, options: SandboxExecutorOptions): Promise<RunResult> {
  ctx.signal?.throwIfAborted();
  const strategy = chooseStrategy(step, ctx, caps, options);
  const base = options.tmpDir ?? join(ctx.storeRoot, 'tmp');
  await mkdir(base, { recursive: true });
  const stepDir = await mkdtemp(join(base, 'step-'));
  const ids = await sandboxIds(caps);
  let handedOver = false;
  let releaseMounts = () => {};
  try {
    const prepared = await prepareStep(step, ctx, caps, { ...options, stepDir, strategy, ...(ids?.map ? { idMap: ids.map } : {}) });
    releaseMounts = prepared.release;
    const copy = prepared.copy;
    const exit = await runSandbox({
      argv: prepared.argv,
      input: prepared.input,
      onOutput: (stream, chunk) => ctx.onOutput(stream, chunk),
      signal: ctx.signal,
      timeoutMs: options.timeoutMs,
      tailBytes: options.outputTailBytes ?? 4096,
      userNetwork: prepared.goFd === undefined ? undefined : { caps, stepDir, goFd: prepared.goFd },
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
    const hostIds = { uid: process.getuid!(), gid: process.getgid!() };
    const owners = prepared.owners
      ? { hostIds, stepUser, recorded: await readOwners(prepared.owners.file), imageOwners: prepared.owners.image }
      : caps.rootless
        ? { hostIds, stepUser }
        : { stepUser };
    const entries =
      strategy === 'overlay'
        ? await upperEntries(join(stepDir, 'u'), ctx.rootfs, owners, { whiteoutMtime })
        : await copy!.changes(owners, { whiteoutMtime });
    if (entries.length === 0) return { layer: null };
    const layer = releasingLayer(layerFromEntries(entries, epoch === undefined ? {} : { sourceDateEpoch: epoch }), async () => {
      pending.delete(layer);
      await removeStepDir(stepDir, ids, caps);
    });
    track(layer, stepDir);
    ctx.signal?.addEventListener('abort', () => void layer.release(), { once: true });
    handedOver = true;
    // The builder releases the step directory once it has staged the layer (or given up on it).
    return { layer, release: () => layer.release() };
  } finally {
    releaseMounts();
    if (!handedOver) await removeStepDir(stepDir, ids, caps);
  }
}

/** A killed step leaves files of subordinate ids behind: those go through the namespace. */
async function removeStepDir(stepDir: string, ids: IdMapProbe | undefined, caps: SandboxCapabilities): Promise<void> {
  try {
    await removeTree(stepDir);
  } catch (err) {
    if (!ids?.map) throw err;
    await removeMappedTree(stepDir, ids, caps.tools);
  }
}

function track(layer: ReleasingLayer, stepDir: string): void {
  pending.set(layer, stepDir);
  if (!exitHook) {
    exitHook = true;
    // Last resort: the files of layers never read go when the process ends (synchronously: it is ending).
    atExit(() => {
      for (const dir of pending.values()) {
        try {
          rmSync(dir, { recursive: true, force: true });
        } catch {
          // Unwritable leftovers of a user namespace: nothing more can be done at exit.
        }
      }
    });
  }
}

