/**
 * How RUN instructions are executed: the builder prepares a {@link RunStep}
 * (argv, environment, user, mounts…) and a {@link RunContext} (the stage's
 * layers and a writable union view over them), and hands both to a
 * {@link RunExecutor}, which returns the layer of changes. The builder
 * never runs a process itself.
 * @module
 */
import type { Mount } from '../dockerfile/instructions/types.js';
import type { Layer } from '../layers/layer.js';
import type { UnionFS } from '../unionfs/union.js';
import type { BuildContext } from '../context/context.js';
import { RunFailedError } from './errors.js';

export type { Mount } from '../dockerfile/instructions/types.js';

/**
 * One RUN, ready to execute.
 *
 * @example
 * ```ts
 * // RUN --network=none echo "$GREETING" > /greeting, in a stage with ENV GREETING=hi
 * const step: RunStep = {
 *   argv: ['/bin/sh', '-c', 'echo "$GREETING" > /greeting'],
 *   env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hi'],
 *   workdir: '/',
 *   user: { uid: 0, gid: 0, additionalGids: [] },
 *   mounts: [],
 *   network: 'none',
 *   security: 'sandbox',
 *   heredocs: [],
 *   instruction: 'RUN --network=none echo "$GREETING" > /greeting',
 *   location: { line: 3, column: 1 },
 * };
 * ```
 */
export interface RunStep {
  /** Final argv: shell form already wrapped with the stage's SHELL (default `['/bin/sh','-c']`), exec form as is. */
  argv: string[];
  /** `K=V`: image ENV + ARGs in scope (as BuildKit passes them), `PATH` default added if missing. */
  env: string[];
  /** Absolute, inside the rootfs. */
  workdir: string;
  /** Resolved from the stage's /etc/passwd and /etc/group. */
  user: { uid: number; gid: number; additionalGids: number[] };
  /** From `RUN --mount`, typed and already expanded. */
  mounts: Mount[];
  network: 'default' | 'none' | 'host';
  security: 'sandbox' | 'insecure';
  /**
   * Heredocs of the RUN. When the RUN is a single heredoc, BuildKit runs its
   * body directly and `argv` already says so (`sh -c <body>`, or the body
   * saved as a script when it starts with `#!`); these are the raw bodies,
   * for executors that feed them some other way.
   */
  heredocs: { name: string; content: string; expand: boolean; chomp: boolean }[];
  /** The original text, for messages. */
  instruction: string;
  location: { line: number; column: number };
  /** The stage's name or index, for messages. */
  stage?: string;
  /** The platform the stage builds for (`linux/amd64`). */
  platform?: string;
  /**
   * Files the command needs that are not in the rootfs, to be provided at
   * `path` for the duration of the step and never in its layer: a heredoc
   * script run by its `#!` line (BuildKit's `/dev/pipes/<name>`, whose path
   * `argv` names).
   */
  files?: RunFile[];
}

/**
 * A file a {@link RunStep} needs (see {@link RunStep.files}).
 *
 * @example
 * ```ts
 * const file: RunFile = { path: '/dev/pipes/EOF', content: '#!/usr/bin/env python3\nprint(1)\n', mode: 0o755 };
 * ```
 */
export interface RunFile {
  /** Absolute path inside the step's file system. */
  path: string;
  content: string;
  mode: number;
}

/**
 * What a `RUN --mount` refers to, as {@link RunContext.resolveMountSource}
 * resolves it.
 *
 * - `context`: a bind mount of (part of) a build context directory:
 *   `hostPath` is the directory or file on the host (the unfiltered
 *   directory: `.dockerignore` is not applied by a host bind), `context`
 *   the filtered view of it and `path` the path inside it.
 * - `layers`: a bind mount from a stage or an image: `rootfs` is a
 *   read-only view of its file system and `path` the path inside it.
 * - `cache`: a persistent directory under the store, keyed by the cache id
 *   (`id=`, default the target), created on first use.
 * - `tmpfs`: an empty, private directory.
 * - `secret`: the secret's bytes (`null` when not provided and not required).
 * - `ssh`: an agent socket path (`null` when not provided and not required).
 */
export type MountSource =
  | { kind: 'context'; context: BuildContext; path: string; hostPath: string }
  | { kind: 'layers'; layers: Layer[]; rootfs: UnionFS; path: string }
  | { kind: 'cache'; id: string; hostPath: string; sharing: 'shared' | 'private' | 'locked' }
  | { kind: 'tmpfs'; sizeLimit?: number }
  | { kind: 'secret'; id: string; data: Uint8Array | null }
  | { kind: 'ssh'; id: string; socket: string | null };

/** What an executor gets besides the step. */
export interface RunContext {
  /** The stage's layers so far, bottom first. */
  lowers: Layer[];
  /** A view of those layers with a fresh writable upper. */
  rootfs: UnionFS;
  /** Where executors may keep per-layer extracted dirs and cache mounts. */
  storeRoot: string;
  /** What a mount of the step refers to (context, stage, cache, secret…). */
  resolveMountSource(mount: Mount): Promise<MountSource>;
  signal?: AbortSignal;
  /**
   * The build's `SOURCE_DATE_EPOCH` (seconds), when set: executors should
   * clamp the layer's mtimes to it (`rootfs.commit({ sourceDateEpoch })`).
   */
  sourceDateEpoch?: number;
  /** Output of the command, passed on as progress events. */
  onOutput(stream: 'stdout' | 'stderr', chunk: Uint8Array): void;
}

/**
 * What an executor hands back for a step.
 *
 * @example
 * ```ts
 * const result: RunResult = { layer, release: () => rm(stepDir, { recursive: true, force: true }) };
 * ```
 */
export interface RunResult {
  /** The layer of the command's changes, or `null` when nothing changed. */
  layer: Layer | null;
  /**
   * Frees what the executor still holds for this step (the files `layer`
   * reads from, a scratch directory…). The builder calls it once, after it
   * has read the layer (its blob staged, its digests known) or given up on
   * it — also when the build fails or is aborted.
   */
  release?(): void | Promise<void>;
}

/**
 * Executes RUN steps. Return the layer of the command's changes (`null`
 * when nothing changed) and, optionally, a `release` for what backs it;
 * when the command exits non-zero, throw a {@link RunFailedError} (the
 * builder adds the Dockerfile position if missing).
 *
 * @example
 * ```ts
 * const executor: RunExecutor = {
 *   async run(step, ctx) {
 *     await ctx.rootfs.writeFile('/ran', step.argv.join(' '));
 *     return { layer: await ctx.rootfs.commit() };
 *   },
 * };
 * await build({ context: '.', executor });
 * ```
 */
export interface RunExecutor {
  run(step: RunStep, ctx: RunContext): Promise<RunResult>;
}

/**
 * A RUN written as a function: it changes `fs` (the stage's file system with
 * a fresh writable upper) as the command would. Return nothing or 0 for
 * success; a non-zero number, or a thrown {@link RunFailedError}, fails the
 * step.
 *
 * @example
 * ```ts
 * const run: RunHandler = async (step, fs) => {
 *   if (step.argv.at(-1) === 'rm -rf /tmp/cache') await fs.rm('/tmp/cache', { recursive: true, force: true });
 * };
 * ```
 */
export type RunHandler = (step: RunStep, fs: UnionFS, ctx: RunContext) => void | number | Promise<void | number>;

/**
 * Wraps a {@link RunHandler} into an executor whose layer is
 * `ctx.rootfs.commit()`: works on any OS, without a sandbox.
 *
 * @example
 * ```ts
 * const executor = handlerExecutor(async (step, fs) => {
 *   await fs.mkdir('/app/cache', { recursive: true });
 * });
 * ```
 */
export function handlerExecutor(handler: RunHandler): RunExecutor {
  return {
    async run(step, ctx) {
      const status = await handler(step, ctx.rootfs, ctx);
      if (typeof status === 'number' && status !== 0) {
        throw new RunFailedError({
          command: step.argv,
          exitCode: status,
          outputTail: '',
          line: step.location.line,
          column: step.location.column,
          instruction: step.instruction,
          ...(step.stage === undefined ? {} : { stage: step.stage }),
        });
      }
      if (ctx.rootfs.changes().length === 0) return { layer: null };
      const epoch = ctx.sourceDateEpoch;
      return { layer: await ctx.rootfs.commit(epoch === undefined ? {} : { sourceDateEpoch: epoch }) };
    },
  };
}
