/**
 * RUN: the argv (shell form wrapped in the stage's SHELL, heredocs as
 * BuildKit passes them), environment, user and mounts, handed to the
 * executor; its layer becomes the stage's next layer.
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, sha256 } from '../../digest.js';
import type { Mount, RunInstruction } from '../../dockerfile/instructions/types.js';
import { formatPlatform, platformMatches } from '../../image/platform.js';
import { UnionFS } from '../../unionfs/union.js';
import { readFile } from 'node:fs/promises';
import { BuildError, positionOf, RunFailedError } from '../errors.js';
import type { MountSource, RunContext, RunFile, RunResult, RunStep } from '../../sandbox/executor.js';
import type { StepRef } from '../events.js';
import { imageIdentity, imageSelectionKey, stageSelectionChecksum, type InputEnv, type SelectionSpec } from '../cache/inputs.js';
import { DEFAULT_PATH } from '../scope.js';
import { resolveFromRef } from '../stages.js';
import { userError, type StageRun, type StepOutcome } from './context.js';
import { commandArgs } from './metadata.js';
import { replayLayer, type Step } from './step.js';

/**
 * An inline file the executor must provide for the step (a heredoc script run by its `#!` line).
 * @deprecated Use {@link RunFile} (`RunStep.files`).
 */
export type RunInlineFile = RunFile;

const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

const HEREDOC_WORD = /^<<(-?)\s*(["']?)([A-Za-z0-9_.\-/]+)\2$/;

/** The argv of a RUN before the shell, with heredocs applied as BuildKit's `dispatchRun` does. */
export function runArgs(ins: RunInstruction): { args: string[]; shell: boolean; files: RunFile[] } {
  const files: RunFile[] = [];
  if ('exec' in ins.command) return { args: [...ins.command.exec], shell: false, files };
  let line = ins.command.shell;
  if (ins.heredocs.length > 0) {
    const single = HEREDOC_WORD.exec(line.trim());
    const first = ins.heredocs[0]!;
    if (single && ins.heredocs.length === 1) {
      const data = first.chomp ? first.content.replace(/^\t+/gm, '') : first.content;
      if (data.startsWith('#!')) {
        const path = `/dev/pipes/${first.name}`;
        files.push({ path, content: data, mode: 0o755 });
        return { args: [path], shell: true, files };
      }
      return { args: [data], shell: true, files };
    }
    for (const heredoc of ins.heredocs) line += '\n' + heredoc.content + heredoc.name;
  }
  return { args: [line], shell: true, files };
}

/** The `|N K=V … ` prefix BuildKit writes in RUN history entries. */
function runCommandString(run: StageRun, argv: string[]): string {
  const parts: string[] = [];
  const seen = new Map<string, number>();
  for (const arg of run.state.args) {
    const value = run.state.vars.get(arg.key) ?? arg.value ?? '';
    const index = seen.get(arg.key);
    if (index !== undefined) parts[index] = `${arg.key}=${value}`;
    else {
      seen.set(arg.key, parts.length);
      parts.push(`${arg.key}=${value}`);
    }
  }
  const prefix = parts.length > 0 ? [`|${parts.length}`, ...parts] : [];
  return [...prefix, ...argv].join(' ');
}

/**
 * RUN: keyed on its text and state (as BuildKit), a `runCacheKey` standing
 * for a JavaScript handler, and the content of bind-mounted sources; a hit
 * replays its layer.
 */
export const runStep: Step<RunInstruction, undefined> = {
  readsFs: true,
  stacks: true,
  check(run, ins) {
    // BuildKit's entitlements: checked before the cache, so a cached step does not slip through either.
    const allow = run.session.options.allow ?? [];
    if (ins.network === 'host' && !allow.includes('network.host')) {
      throw new BuildError('ENTITLEMENT_REQUIRED', 'RUN --network=host needs the network.host entitlement (API: allow: [\'network.host\'], CLI: --allow network.host)', { reason: 'network.host not allowed' });
    }
    if (ins.security === 'insecure' && !allow.includes('security.insecure')) {
      throw new BuildError('ENTITLEMENT_REQUIRED', 'security.insecure is not allowed: RUN --security=insecure needs the security.insecure entitlement (API: allow: [\'security.insecure\'], CLI: --allow security.insecure)', { reason: 'security.insecure not allowed' });
    }
  },
  prepare: () => undefined,
  async inputs(run, ins, _prepared, env) {
    const { run: handler, runCacheKey } = run.session.options;
    // A JavaScript handler's behaviour is its code, which no key can see: only the caller's runCacheKey stands for it.
    if (handler !== undefined && runCacheKey === undefined) throw new Error('RUN served by a handler without runCacheKey: not cached');
    const out: unknown[] = runCacheKey === undefined ? [] : [['run-cache-key', runCacheKey]];
    for (const mount of ins.mounts) if (mount.type === 'bind') out.push(['bind', mount.target ?? '', await bindChecksum(run, ins, mount, env)]);
    return out;
  },
  keyAfterRun: () => false,
  independent: () => false,
  execute(run, ins, _prepared, ctx) {
    refuseNul(ins.command, run.state.config.config?.Env ?? []);
    return runRun(run, ins, ctx.ref);
  },
  replay: (run, _ins, hit) => replayLayer(run, hit),
};

/** The content identity of what a bind mount shows. */
async function bindChecksum(run: StageRun, ins: RunInstruction, mount: Mount, env: InputEnv): Promise<string> {
  const { session, plan } = run;
  const source = mount.source ?? '/';
  const spec: SelectionSpec = { sources: [source], excludes: [], parents: false };
  const fromContext = async (context: typeof session.context) => context.checksum(await context.resolveSources([source]), { cache: env.statCache });
  if (mount.from === undefined || mount.from === '') return fromContext(session.context);
  const ref = resolveFromRef(mount.from, session.graph.plans.map((p) => p.stage), new Set(Object.keys(session.options.buildContexts ?? {})), ins, plan.label);
  switch (ref.kind) {
    case 'scratch':
      return imageSelectionKey(null, spec);
    case 'image':
      return imageSelectionKey(imageIdentity(await session.image(ref.ref, ins, plan.label)), spec);
    case 'context': {
      const dir = await session.namedDirectory(ref.name);
      if (dir) return fromContext(dir);
      return imageSelectionKey(imageIdentity(await session.image(session.options.buildContexts?.[ref.name] ?? ref.name, ins, plan.label)), spec);
    }
    case 'stage':
      return stageSelectionChecksum(await session.stage(ref.index), spec, async () => (await session.sourceFs(ref, ins, plan.label)).select([source]), env);
  }
}

/**
 * A NUL byte cannot be part of a process argument or environment variable
 * (exec(2) ends each string there): refused as an instruction error rather
 * than failing inside the process start.
 */
function refuseNul(command: { shell: string } | { exec: string[] }, env: readonly string[]): void {
  const words = 'shell' in command ? [command.shell] : command.exec;
  if (words.some((w) => w.includes('\0'))) {
    throw new BuildError('INVALID_INSTRUCTION', 'RUN: the command contains a NUL byte (\\0), which no process argument can hold', { reason: 'nul byte' });
  }
  const bad = env.find((e) => e.includes('\0'));
  if (bad !== undefined) {
    throw new BuildError('INVALID_INSTRUCTION', `RUN: the environment variable ${bad.slice(0, bad.indexOf('='))} contains a NUL byte (\\0), which no process environment can hold`, { reason: 'nul byte' });
  }
}

/** Runs RUN (mounts already expanded); its output events name `stepRef`, the step as announced. */
async function runRun(run: StageRun, ins: RunInstruction, stepRef: StepRef): Promise<StepOutcome> {
  const { session, state, plan } = run;
  const position = positionOf(ins, plan.label);
  // The sandbox would run the image's binaries on this CPU: a wrong result or an exec error, never the image asked for.
  // A JavaScript handler (`run`) runs no binary, so it serves any platform.
  if (session.options.run === undefined && !platformMatches(session.buildPlatform, state.platform)) {
    throw new BuildError(
      'FOREIGN_PLATFORM_RUN',
      `RUN cannot run for platform ${formatPlatform(state.platform)} on this ${formatPlatform(session.buildPlatform)} host: emulation is not supported (build for ${formatPlatform(session.buildPlatform)}, or keep RUN out of stages for other platforms)`,
      { ...position, reason: formatPlatform(state.platform), expected: formatPlatform(session.buildPlatform), actual: formatPlatform(state.platform) },
    );
  }
  const { args, shell, files } = runArgs(ins);
  const argv = shell ? commandArgs(run, { shell: args[0] ?? '' }) : args;
  if (shell && args.length === 1 && ins.command && 'shell' in ins.command && ins.command.shell === '' && ins.heredocs.length === 0) {
    // A bare RUN runs the shell with no command string (BuildKit's behaviour).
    argv.pop();
  }
  const createdBy = `RUN ${runCommandString(run, argv)} # buildkit`;
  if (!session.executor) {
    throw new BuildError(
      'RUN_EXECUTOR_MISSING',
      `RUN needs an executor: pass \`executor\` (a RunExecutor, e.g. a sandbox) or \`run\` (a handler over the union file system) to build()`,
      position,
    );
  }
  let user: RunStep['user'];
  try {
    user = await run.users.runUser(state.container.User ?? '');
  } catch (err) {
    throw userError(err, ins, run);
  }
  const env = state.vars.clone();
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  // Proxy build args reach RUN without an ARG, as BuildKit's `WithProxy` does (never the image or history).
  for (const name of PROXY_ARGS) {
    const value = session.buildArgs.get(name);
    if (value !== undefined && !env.has(name)) env.set(name, value);
  }
  const step: RunStep = {
    argv,
    env: env.toList(),
    workdir: state.container.WorkingDir && state.container.WorkingDir !== '' ? state.container.WorkingDir : '/',
    user,
    mounts: ins.mounts.map((m) => ({ ...m })),
    network: ins.network,
    security: ins.security,
    heredocs: ins.heredocs.map((h) => ({ name: h.name, content: h.content, expand: false, chomp: h.chomp })),
    instruction: ins.original,
    location: { line: ins.range.start.line, column: ins.range.start.column },
    stage: plan.label,
    platform: [state.platform.os, state.platform.architecture, state.platform.variant].filter(Boolean).join('/'),
  };
  if (files.length > 0) step.files = files;

  const stack = await state.stack();
  const epoch = session.epoch;
  const rootfs = new UnionFS(stack, epoch === undefined ? {} : { now: () => epoch * 1000 });
  const ctx: RunContext = {
    lowers: [...state.layers],
    rootfs,
    storeRoot: session.store.root,
    resolveMountSource: (mount) => resolveMountSource(run, ins, mount),
    ...(session.options.signal ? { signal: session.options.signal } : {}),
    ...(epoch === undefined ? {} : { sourceDateEpoch: epoch }),
    onOutput(stream, chunk) {
      session.emit({ type: 'output', step: stepRef, stream, chunk });
    },
  };
  let result: RunResult;
  try {
    result = await session.executor.run(step, ctx);
  } catch (err) {
    if (err instanceof RunFailedError && (err.data.line === undefined || err.data.line === 0)) {
      throw new RunFailedError({ ...err.data, ...position }, { cause: err });
    }
    throw err;
  }
  try {
    session.checkAborted();
    if (!result.layer) return { createdBy, layer: null };
    // Staged once (digests computed on the way); nothing reads the executor's layer after this. A handler's
    // commit to the union view has the index already; an executor's layer is indexed from the bytes as they are staged.
    const committed = rootfs.lowers;
    const known = committed.depth === stack.depth + 1 ? committed.layers[committed.depth - 1] : undefined;
    const { layer: staged, index } = known
      ? { layer: await session.spool.stage(result.layer, session.options.signal, known), index: known }
      : await session.spool.stageIndexed(result.layer, state.indexOptions(), session.options.signal);
    state.addLayer(staged, index);
    return { createdBy, layer: { digest: await staged.digest(), layer: staged, index } };
  } finally {
    await result.release?.();
  }
}

/** What a `RUN --mount` refers to. */
async function resolveMountSource(run: StageRun, ins: RunInstruction, mount: Mount): Promise<MountSource> {
  const { session, plan } = run;
  const position = positionOf(ins, plan.label);
  switch (mount.type) {
    case 'bind': {
      const path = mount.source ?? '/';
      if (mount.from === undefined || mount.from === '') {
        const context = session.context;
        return { kind: 'context', context, path, hostPath: join(context.root, path) };
      }
      const contextNames = new Set(Object.keys(session.options.buildContexts ?? {}));
      const ref = resolveFromRef(mount.from, session.graph.plans.map((p) => p.stage), contextNames, ins, plan.label);
      if (ref.kind === 'context') {
        const dir = await session.namedDirectory(ref.name);
        if (dir) return { kind: 'context', context: dir, path, hostPath: join(dir.root, path) };
      }
      if (ref.kind === 'stage') {
        // The stage's own stack: the indexes its layers were made with, nothing read back.
        const stage = await session.stage(ref.index);
        return { kind: 'layers', layers: [...stage.layers], rootfs: new UnionFS(await stage.stack()), path };
      }
      const layers =
        ref.kind === 'scratch'
          ? []
          : (await session.image(ref.kind === 'image' ? ref.ref : (session.options.buildContexts?.[ref.name] ?? ref.name), ins, plan.label)).layers;
      const rootfs = await UnionFS.open(layers);
      return { kind: 'layers', layers, rootfs, path };
    }
    case 'cache': {
      const id = mount.id ?? mount.target ?? '';
      const hostPath = join(session.store.root, 'cache-mounts', digestHex(sha256(id)).slice(0, 32));
      await mkdir(hostPath, { recursive: true });
      return { kind: 'cache', id, hostPath, sharing: mount.sharing ?? 'shared' };
    }
    case 'tmpfs':
      return mount.sizeLimit === undefined ? { kind: 'tmpfs' } : { kind: 'tmpfs', sizeLimit: mount.sizeLimit };
    case 'secret': {
      const id = mount.id ?? (mount.target ? mount.target.slice(mount.target.lastIndexOf('/') + 1) : '');
      const source = session.secrets[id];
      let data: Uint8Array | null = null;
      if (source instanceof Uint8Array) data = source;
      else if (source && 'file' in source) data = new Uint8Array(await readFile(source.file));
      else if (source && 'env' in source) {
        const value = process.env[source.env];
        data = value === undefined ? null : new TextEncoder().encode(value);
      }
      if (data === null && mount.required) {
        throw new BuildError('INVALID_OPTION', `secret ${id} not found: pass it in the \`secrets\` option`, { ...position, reference: id });
      }
      return { kind: 'secret', id, data };
    }
    case 'ssh': {
      const id = mount.id ?? 'default';
      const socket = session.options.ssh?.[id] ?? null;
      if (socket === null && mount.required) {
        throw new BuildError('INVALID_OPTION', `no SSH agent socket for id ${id}: pass it in the \`ssh\` option`, { ...position, reference: id });
      }
      return { kind: 'ssh', id, socket };
    }
  }
}
