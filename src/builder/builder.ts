/**
 * The build session: normalized options, the stage graph, the stages built
 * so far, base images and named contexts, events — what every step needs.
 * @module
 */
import { resolve as resolveHost } from 'node:path';
import { stat } from 'node:fs/promises';
import { LayerkitError } from '../errors.js';
import { suggest } from '../dockerfile/suggest.js';
import { formatPlatform } from '../image/platform.js';
import type { ImageConfig, Platform } from '../image/types.js';
import { layerFromEntries } from '../layers/from-entries.js';
import type { LayerCompressionOptions } from '../layers/from-uncompressed.js';
import type { Layer } from '../layers/layer.js';
import { LowerStack } from '../unionfs/lower-stack.js';
import { indexLayer } from '../unionfs/layer-source.js';
import { parseBaseReference, resolveBase } from './base-image.js';
import { registryClient, type RemoteBaseContext, type ResolvedBase } from './remote-base.js';
import { openContext, type BuildContext } from '../context/context.js';
import { contextSourceFs, rootfsSourceFs } from './copy/sources.js';
import { BuildError, positionOf } from './errors.js';
import type { BuildOptions } from './options.js';
import { DEFAULT_PATH } from './scope.js';
import { StageState } from './stage-state.js';
import type { BuildSession, SessionPlatform } from './session-types.js';
import type { StagePlan } from './stages.js';

export type { BuildSession } from './session-types.js';

/**
 * Creates the session object over the normalized pieces; `runStage` builds
 * one stage (the build driver's), called once per stage by `stage()`.
 */
export function createSession(
  init: Omit<BuildSession, 'emit' | 'warn' | 'checkAborted' | 'stage' | 'sourceFs' | 'image' | 'stagePlatform' | 'remote' | 'bases' | 'namedDirectory' | 'layerOptions' | 'steps' | 'declaredArgs'> & SessionPlatform,
  runStage: (session: BuildSession, plan: StagePlan) => Promise<StageState>,
): BuildSession {
  const built = new Map<number, Promise<StageState>>();
  /** Stages being built right now (for cycle detection of ONBUILD-added dependencies). */
  const inProgress = new Set<number>();
  const images = new Map<string, Promise<ResolvedBase>>();
  let remote: RemoteBaseContext | undefined;
  const directories = new Map<string, Promise<BuildContext | undefined>>();
  const stacks = new WeakMap<Layer[], Promise<LowerStack>>();
  const { targetPlatform: _target, explicitPlatform: _explicit, ...fields } = init;
  const session: BuildSession = {
    ...fields,
    steps: [],
    declaredArgs: new Set(),
    emit(event) {
      init.options.onEvent?.(event);
    },
    warn(code, message, at) {
      init.options.onEvent?.({ type: 'warning', code, message, ...(at ? { line: at.line, column: at.column } : {}) });
    },
    checkAborted() {
      const signal = init.options.signal;
      if (signal?.aborted) {
        throw new BuildError('BUILD_ABORTED', 'the build was aborted', { reason: String(signal.reason ?? 'aborted') }, { cause: signal.reason });
      }
    },
    stage(index) {
      let pending = built.get(index);
      if (!pending) {
        const plan = session.graph.plans[index]!;
        if (inProgress.has(index)) {
          throw new BuildError('STAGE_CYCLE', `circular dependency detected on stage: ${plan.label}`, {
            ...positionOf(plan.stage.from, plan.label),
            cycle: [plan.label],
          });
        }
        inProgress.add(index);
        pending = runStage(session, plan);
        const done = () => inProgress.delete(index);
        pending.then(done, done);
        built.set(index, pending);
      }
      return pending;
    },
    async sourceFs(ref, at, stageLabel) {
      switch (ref.kind) {
        case 'stage': {
          const state = await session.stage(ref.index);
          return rootfsSourceFs(await state.stack(), `stage ${session.graph.plans[ref.index]!.label}`);
        }
        case 'context': {
          const dir = await session.namedDirectory(ref.name);
          if (dir) return contextSourceFs(dir, `context ${ref.name}`);
          const value = init.options.buildContexts?.[ref.name] ?? ref.name;
          const image = await session.image(value, at, stageLabel);
          return rootfsSourceFs(await stackOf(stacks, image.layers, session.options.tmpDir), `context ${ref.name}`);
        }
        case 'scratch':
          return rootfsSourceFs(LowerStack.empty(), 'scratch');
        case 'image': {
          const image = await session.image(ref.ref, at, stageLabel);
          return rootfsSourceFs(await stackOf(stacks, image.layers, session.options.tmpDir), `image ${ref.ref}`);
        }
      }
    },
    image(reference, at, stageLabel, platform = init.targetPlatform) {
      const memo = `${formatPlatform(platform)} ${reference}`;
      let pending = images.get(memo);
      if (!pending) {
        pending = (async () => {
          const position = positionOf(at, stageLabel);
          const parsed = await parseBaseReference(reference, position);
          return resolveBase(parsed, {
            store: init.store,
            platform,
            explicitPlatform: init.explicitPlatform || platform !== init.targetPlatform,
            pull: init.options.pull === true,
            remote: () => session.remote(),
          }, position).catch((err: unknown) => {
            throw withStageHint(err, reference, session.graph.plans.flatMap((p) => (p.stage.name ? [p.stage.name] : [])));
          });
        })();
        images.set(memo, pending);
      }
      return pending;
    },
    stagePlatform(plan) {
      return plan.platform !== undefined ? parsePlatformOption(plan.platform, plan) : init.targetPlatform;
    },
    remote() {
      remote ??= { client: registryClient(init.options.registry), store: init.store, emit: (e) => session.emit(e) };
      return remote;
    },
    async bases() {
      const settled = await Promise.allSettled(images.values());
      return settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    },
    namedDirectory(name) {
      let pending = directories.get(name);
      if (!pending) {
        const value = init.options.buildContexts?.[name];
        pending = (async () => {
          if (value === undefined || /^[a-z-]+:\/\//.test(value)) return undefined;
          const dir = resolveHost(value);
          if (!(await stat(dir).catch(() => undefined))?.isDirectory()) {
            throw new BuildError('INVALID_OPTION', `build context ${name}: ${value} is not a directory`, { reference: name, path: value });
          }
          return openContext(dir, init.options.xattrs === undefined ? {} : { xattrs: init.options.xattrs });
        })();
        directories.set(name, pending);
      }
      return pending;
    },
    layerOptions() {
      const options = layerCompression(init.options);
      return init.epoch === undefined ? options : { ...options, sourceDateEpoch: init.epoch };
    },
  };
  return session;
}

/**
 * How a build compresses its layers: the `compression` option over the
 * default, block-parallel gzip (deflate on the thread pool, incompressible
 * stretches stored). Cache keys cover this, since it decides the blob bytes.
 */
export function layerCompression(options: BuildOptions): LayerCompressionOptions {
  return { parallel: true, ...(options.compression ?? {}) };
}

async function stackOf(cache: WeakMap<Layer[], Promise<LowerStack>>, layers: Layer[], spoolDir: string | undefined): Promise<LowerStack> {
  let pending = cache.get(layers);
  if (!pending) {
    pending = (async () => {
      let stack = LowerStack.empty();
      // Large bodies spill into the build's scratch directory under the store, never $TMPDIR: a killed build's are swept.
      for (const layer of layers) stack = stack.withLayer(await indexLayer(layer, spoolDir === undefined ? {} : { spoolDir }));
      return stack;
    })();
    cache.set(layers, pending);
  }
  return pending;
}

/**
 * The initial state of a stage from its FROM: scratch, an earlier stage, a
 * named context or an image. `PATH` is added to `Env` when missing, as
 * BuildKit does; the base's `created` is dropped and its `OnBuild` cleared
 * (the triggers are returned instead).
 */
export async function initialState(
  session: BuildSession,
  plan: StagePlan,
): Promise<{ state: StageState; triggers: string[] }> {
  const platform = session.stagePlatform(plan);
  let state: StageState;
  let triggers: string[] = [];
  const base = plan.replacedBy !== undefined ? ({ kind: 'context', name: plan.replacedBy } as const) : plan.base;
  switch (base.kind) {
    case 'scratch':
      state = new StageState(scratchConfig(platform), [], platform, session.options.tmpDir);
      break;
    case 'stage': {
      const parent = await session.stage(base.index);
      const config = structuredClone(parent.config);
      state = new StageState(config, parent.layers, parent.platform, session.options.tmpDir, parent.indexes());
      state.vars = parent.vars.clone();
      state.args.push(...parent.args);
      triggers = session.graph.plans[base.index]!.stage.instructions.flatMap((i) => (i.kind === 'onbuild' ? [i.expression] : []));
      // The stack is built on first use from the same layers, whose indexes are shared: a stage
      // whose steps all come from the build cache never reads its parent's files.
      break;
    }
    case 'context': {
      const dir = await session.namedDirectory(base.name);
      if (dir) {
        const entries = [];
        for await (const entry of dir.walk()) if (entry.path !== '/') entries.push(entry);
        const layer = layerFromEntries(entries, session.layerOptions());
        state = new StageState(scratchConfig(platform), [], platform, session.options.tmpDir);
        if (entries.length > 0) {
          state.addLayer(await session.spool.stage(layer, session.options.signal, state.entriesIndex(entries)));
          state.history.push({ created_by: `FROM ${base.name}`, comment: 'buildkit.dockerfile.v0' });
        }
        break;
      }
      const value = session.options.buildContexts?.[base.name] ?? base.name;
      const image = await session.image(value, plan.stage.from, plan.label, platform);
      state = imageState(session, image, platform);
      triggers = image.config.config?.OnBuild ?? [];
      break;
    }
    case 'image': {
      const image = await session.image(base.ref, plan.stage.from, plan.label, platform);
      state = imageState(session, image, platform);
      triggers = image.config.config?.OnBuild ?? [];
      break;
    }
  }
  if (state.config.config?.OnBuild !== undefined) delete state.config.config.OnBuild;
  const env = state.container.Env ?? [];
  if (!env.some((e) => e.startsWith('PATH='))) {
    state.container.Env = [...env, `PATH=${DEFAULT_PATH}`];
    if (!state.vars.has('PATH')) state.vars.set('PATH', DEFAULT_PATH);
  }
  return { state, triggers };
}

function imageState(session: BuildSession, image: { config: ImageConfig; layers: Layer[] }, platform: Platform): StageState {
  const config = structuredClone(image.config);
  delete config.created;
  const imagePlatform: Platform = { os: config.os, architecture: config.architecture };
  if (config.variant) imagePlatform.variant = config.variant;
  return new StageState(config, image.layers, config.os && config.architecture ? imagePlatform : platform, session.options.tmpDir);
}

function scratchConfig(platform: Platform): ImageConfig {
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
  };
  if (platform.variant) config.variant = platform.variant;
  return config;
}

function parsePlatformOption(value: string, plan: StagePlan): Platform {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new BuildError('INVALID_INSTRUCTION', `failed to parse platform ${value}`, positionOf(plan.stage.from, plan.label));
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** Wraps an error of a lower module into a positioned BuildError where it is one of ours to explain. */
export function locate(err: unknown, instruction: { original: string; range: { start: { line: number; column: number } } }, stage: string): unknown {
  if (err instanceof BuildError && err.data.line === undefined) {
    return new BuildError(err.code, err.message, { ...err.data, ...positionOf(instruction, stage) }, { cause: err.cause ?? err });
  }
  if (err instanceof LayerkitError && err.code === 'BUILD_ABORTED') return err;
  return err;
}

/**
 * A base image that could not be had, named like a stage of this
 * Dockerfile (`FROM bulder` beside `AS builder`): the error says which stage
 * was probably meant, since an image by that name was never the intent.
 */
function withStageHint(err: unknown, reference: string, stages: readonly string[]): unknown {
  if (!(err instanceof LayerkitError) || err.code !== 'BASE_IMAGE_NOT_FOUND') return err;
  const near = suggest(reference, stages);
  if (near !== undefined) err.message += ` (no stage is named ${JSON.stringify(reference)}; did you mean ${JSON.stringify(near)}?)`;
  return err;
}
