/**
 * `build()`: a Dockerfile and a context in, an OCI image in the local store
 * (and any outputs) out.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { parseInstructions, type ParsedDockerfile } from '../dockerfile/instructions/parse.js';
import { expandInstruction } from '../dockerfile/instructions/expand.js';
import type { Instruction } from '../dockerfile/instructions/types.js';
import { ShellLex } from '../dockerfile/shell/lex.js';
import { parseDockerfile } from '../dockerfile/syntax/parser.js';
import { formatTimestamp } from '../image/json.js';
import { imageFromConfig } from '../image/image.js';
import { parseOutputSpec, type OutputSpec } from '../image/output-spec.js';
import { hostPlatform, parsePlatform } from '../image/platform.js';
import { parseTagReference } from '../image/reference.js';
import { registerScratchUser, storeTmp } from '../image/store/scratch.js';
import { asNoSpace } from '../image/store/system-errors.js';
import { ImageStore } from '../image/store/store.js';
import type { Platform } from '../image/types.js';
import { createSession, initialState, layerCompression, locate, type BuildSession } from './builder.js';
import { CacheSession, fetchOnce } from './cache/session.js';
import { openContext, type BuildContext } from '../context/context.js';
import { BuildError, positionOf } from './errors.js';
import { handlerExecutor } from '../sandbox/executor.js';
import { deliver, pushTargets } from './deliver.js';
import { buildPlatforms, platformPart, requestedPlatforms } from './multi-platform.js';
import type { BuildOptions, BuildResult } from './options.js';
import { BUILTIN_ARGS, expandWord, metaScope, PLATFORM_ARGS, platformArgs } from './scope.js';
import { LayerSpool } from './spool.js';
import type { StageState } from './stage-state.js';
import { planStages, type StagePlan } from './stages.js';
import type { StepRef } from './events.js';
import { stageRun, type StageRun, type StepOutcome } from './steps/context.js';
import { runOnbuildTriggers } from './steps/from.js';
import { stepOf } from './steps/table.js';

const HISTORY_COMMENT = 'buildkit.dockerfile.v0';

/**
 * Builds an image from a Dockerfile and a context directory, as
 * `docker buildx build` would, and stores it in the local image store.
 *
 * Stages are built only when the target needs them. Each COPY, ADD, RUN
 * (and a WORKDIR that creates its directory) makes one layer; every
 * instruction gets a history entry as BuildKit writes it. Nothing is
 * written to the store (or any output) unless the whole build succeeds.
 *
 * @throws {@link BuildError} (with the Dockerfile position for instruction
 * errors), {@link RunFailedError}, `DockerfileSyntaxError` from the parser,
 * `ShellExpansionError` for a bad variable expansion.
 * @example
 * ```ts
 * import { build } from 'layerkit';
 *
 * const { digest, imageId, image } = await build({ context: 'examples/hello', tags: ['hello:dev'] });
 * console.log(digest, imageId, (await image.config()).config);
 * ```
 */
export async function build(options: BuildOptions = {}): Promise<BuildResult> {
  const started = Date.now();
  const part = platformPart(options);
  const platforms = requestedPlatforms(options);
  if (platforms.length > 1) return buildPlatforms(options, platforms, build);
  if (platforms.length === 1) options = { ...options, platform: platforms[0]!, platforms: undefined };
  const contextDir = resolve(options.context ?? '.');
  const store = typeof options.store === 'string' || options.store === undefined ? new ImageStore(options.store) : options.store;

  // Validate every option before any work.
  const tags = normalizeTags(options.tags);
  const outputs = normalizeOutputs(options.output);
  pushTargets(options, outputs, tags);
  const targetPlatform = normalizePlatform(options.platform);
  const buildPlatform = hostPlatform();
  if (options.executor && options.run) {
    throw new BuildError('INVALID_OPTION', 'pass either `executor` or `run`, not both');
  }
  const executor = options.executor ?? (options.run ? handlerExecutor(options.run) : undefined);
  const buildArgs = new Map(Object.entries(options.buildArgs ?? {}));

  const contextOptions = options.dockerfile === undefined ? {} : { dockerfilePath: options.dockerfile };
  const context = await openContext(contextDir, { ...contextOptions, ...(options.xattrs === undefined ? {} : { xattrs: options.xattrs }) });
  const text = options.dockerfileText ?? (await readDockerfile(context, contextDir, options.dockerfile));
  const ast = parseDockerfile(text);
  const parsed: ParsedDockerfile = parseInstructions(ast, { source: text });
  const lex = new ShellLex({ escapeToken: ast.escapeToken });

  // Global scope: platform args, meta ARGs, build args.
  const lastStage = parsed.stages[parsed.stages.length - 1];
  const targetName = options.target ?? lastStage?.name ?? '';
  const global = metaScope(platformArgs(buildPlatform, targetPlatform, targetName), parsed.metaArgs, buildArgs, (word, env, ins) =>
    expandOrLocate(lex, word, env, ins),
  );
  const epoch = resolveEpoch(options.sourceDateEpoch, global.get('SOURCE_DATE_EPOCH') ?? buildArgs.get('SOURCE_DATE_EPOCH'));
  if (epoch !== undefined) global.set('SOURCE_DATE_EPOCH', String(epoch));

  const graph = planStages({
    stages: parsed.stages,
    expandMeta: (word, stage) => expandOrLocate(lex, word, global, stage.from),
    contextNames: new Set(Object.keys(options.buildContexts ?? {})),
    ...(options.target === undefined ? {} : { target: options.target }),
  });

  // The cache reads its specs (and any cacheFrom) now, so a bad one fails before any work.
  const cache = await CacheSession.open(store, options, { epoch: epoch ?? null, compression: layerCompression(options) });
  // Every temporary file of the build lives under the store, owned by this process: a killed build's are swept by the next command.
  const unregister = await registerScratchUser(store.root);
  await store.sweepAbandoned();
  const spool = await LayerSpool.create(options.tmpDir ?? storeTmp(store.root));
  try {
    const session = createSession(
      {
      options: { ...options, tmpDir: spool.dir },
      store,
      context,
      lex,
      graph,
      global,
      buildArgs,
      targetPlatform,
      buildPlatform,
      explicitPlatform: options.platform !== undefined,
      epoch,
      created: formatTimestamp(new Date(epoch === undefined ? started : epoch * 1000)),
      spool,
      executor,
      fetcher: fetchOnce(options.fetcher),
      secrets: options.secrets ?? {},
      },
      (session, plan) => runStage(session, plan, cache),
    );
    for (const warning of ast.warnings) {
      session.warn('DockerfileParse', warning.short, warning.range.start);
    }
    session.emit({ type: 'build-start', stages: graph.order.map((i) => graph.plans[i]!.label), target: graph.plans[graph.target]!.label });
    session.checkAborted();
    for (const index of graph.order) await session.stage(index);
    const final = await session.stage(graph.target);

    for (const name of parsed.metaArgs.flatMap((m) => m.args.map((a) => a.key))) session.declaredArgs.add(name);
    for (const name of buildArgs.keys()) {
      if (!session.declaredArgs.has(name) && !BUILTIN_ARGS.has(name) && !(PLATFORM_ARGS as readonly string[]).includes(name)) {
        session.warn('UnusedBuildArg', `build argument "${name}" is not consumed by any ARG`);
      }
    }

    const config = structuredClone(final.config);
    config.created = session.created;
    if (options.labels && Object.keys(options.labels).length > 0) {
      config.config = { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), ...options.labels } };
    }
    if (options.platform !== undefined) {
      config.os = targetPlatform.os;
      config.architecture = targetPlatform.architecture;
      if (targetPlatform.variant) config.variant = targetPlatform.variant;
      else delete config.variant;
    }
    config.rootfs = { type: 'layers', diff_ids: await Promise.all(final.layers.map((l) => l.diffId())) };
    const image = imageFromConfig(config, final.layers);
    const [digest, imageId] = await Promise.all([image.digest(), image.configDigest()]);
    session.checkAborted();

    // Exports and pushes first, the store last: a failed export leaves the store as it was.
    const done = await deliver({ session, image, digest, outputs, tags, cache, ...(part ? { platformPart: part } : {}) });
    if (!part) session.emit({ type: 'build-end', digest, imageId, durationMs: Date.now() - started });
    return { image: done.image, digest, imageId, tags: done.tags, steps: session.steps, outputs, cache: done.report, pushed: done.pushed, stored: done.stored };
  } catch (err) {
    // A full disk is the machine's state, not the Dockerfile's: one typed error (the staging goes in `finally`).
    throw asNoSpace(err, 'build');
  } finally {
    await cache.close();
    await spool.dispose();
    await unregister();
  }
}

async function readDockerfile(context: BuildContext, contextDir: string, given: string | undefined): Promise<string> {
  if (context.dockerfile) return new TextDecoder().decode(await context.readDockerfile());
  const path = given === undefined ? join(contextDir, 'Dockerfile') : isAbsolute(given) ? given : join(contextDir, given);
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new BuildError('INVALID_OPTION', `cannot read the Dockerfile ${path}: ${(err as Error).message}`, { path }, { cause: err });
  }
}

function normalizeTags(tags: BuildOptions['tags']): string[] {
  const list = tags === undefined ? [] : typeof tags === 'string' ? [tags] : [...tags];
  return list.map((tag) => {
    try {
      return parseTagReference(tag).canonical;
    } catch (err) {
      throw new BuildError('INVALID_OPTION', `invalid tag ${JSON.stringify(tag)}: ${(err as Error).message}`, { reference: tag }, { cause: err });
    }
  });
}

function normalizeOutputs(output: BuildOptions['output']): OutputSpec[] {
  const list = output === undefined ? [] : Array.isArray(output) ? output : [output as string | OutputSpec];
  return list.map((o) => {
    try {
      return typeof o === 'string' ? parseOutputSpec(o) : { ...o, names: [...o.names] };
    } catch (err) {
      throw new BuildError('INVALID_OPTION', (err as Error).message, { reason: 'output' }, { cause: err });
    }
  });
}

function normalizePlatform(platform: BuildOptions['platform']): Platform {
  if (platform === undefined) return hostPlatform();
  if (typeof platform !== 'string') return { ...platform };
  try {
    return parsePlatform(platform);
  } catch (err) {
    throw new BuildError('INVALID_OPTION', `invalid platform ${JSON.stringify(platform)}`, { reference: platform }, { cause: err });
  }
}

function resolveEpoch(option: number | undefined, fromArgs: string | undefined): number | undefined {
  if (option !== undefined) {
    if (!Number.isSafeInteger(option) || option < 0) throw new BuildError('INVALID_OPTION', `sourceDateEpoch must be a non-negative integer, got ${option}`);
    return option;
  }
  const value = fromArgs ?? process.env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === '') return undefined;
  if (!/^[0-9]+$/.test(value)) throw new BuildError('INVALID_OPTION', `invalid SOURCE_DATE_EPOCH: ${value}`);
  return Number(value);
}

function expandOrLocate(lex: ShellLex, word: string, env: import('./scope.js').VarList, at: Instruction): string {
  return expandWord(lex, word, env);
  void at;
}

/** Builds one stage: initial state from FROM, ONBUILD triggers, then each instruction. */
async function runStage(session: BuildSession, plan: StagePlan, cache: CacheSession): Promise<StageState> {
  const { state, triggers } = await initialState(session, plan);
  await cache.beginStage(session, plan, state);
  const run = stageRun(session, plan, state);
  if (plan.replacedBy === undefined) {
    await runOnbuildTriggers(run, triggers, (ins, index) => runInstruction(run, cache, ins, index, true));
    let index = 0;
    for (const instruction of plan.stage.instructions) await runInstruction(run, cache, instruction, ++index, false);
  }
  state.done = true;
  return state;
}

/** How events and results name a step. */
function stepRef(plan: StagePlan, index: number, instruction: Instruction): StepRef {
  return { stage: plan.label, index, total: plan.stage.instructions.length, instruction: instruction.original, line: instruction.range.start.line };
}

/**
 * Expands, runs and records one instruction: its step (`steps/table.ts`)
 * says what it reads, how it runs and how a hit replays; the cache keys it
 * and keeps the record.
 */
async function runInstruction(run: StageRun, cache: CacheSession, raw: Instruction, index: number, fromTrigger: boolean): Promise<void> {
  const { session, plan, state } = run;
  session.checkAborted();
  const ref = stepRef(plan, index, raw);
  if (fromTrigger) ref.instruction = `ONBUILD ${raw.original}`;
  const started = Date.now();
  session.emit({ type: 'step-start', step: ref });
  let outcome: StepOutcome;
  try {
    const unmatched = new Set<string>();
    const instruction = raw.kind === 'arg' ? raw : expandInstruction(raw, session.lex, { get: (name: string) => state.vars.get(name) }, { unmatched });
    for (const name of unmatched) {
      if (!state.args.some((a) => a.key === name) && !session.global.has(name)) {
        session.warn('UndefinedVar', `Usage of undefined variable '$${name}'`, raw.range.start);
      }
    }
    if ((instruction.kind === 'env' && instruction.env.some((e) => e.legacy)) || (instruction.kind === 'label' && instruction.labels.some((l) => l.legacy))) {
      session.warn('LegacyKeyValueFormat', `"${instruction.kind.toUpperCase()} key=value" should be used instead of legacy "${instruction.kind.toUpperCase()} key value" format`, raw.range.start);
    }
    const step = stepOf(instruction.kind);
    if (!step) throw new BuildError('INVALID_INSTRUCTION', `${raw.keyword} is not allowed here`, positionOf(raw, plan.label));
    step.check?.(run, instruction);
    const prepared = step.prepare(run, instruction);
    const lookup = await cache.lookup(run, instruction, {
      inputs: (env) => step.inputs(run, instruction, prepared, env),
      keyAfterRun: step.keyAfterRun(instruction),
      independent: step.independent(instruction),
      readsFs: step.readsFs,
      stacks: step.stacks,
    });
    if (lookup?.hit) {
      outcome = { ...step.replay(run, instruction, await cache.replay(run, lookup)), cached: true };
    } else {
      outcome = await step.execute(run, instruction, prepared, { ref, keyAfterRun: lookup !== undefined && lookup.keys === undefined, statCache: cache.statCache });
      await cache.record(run, lookup, outcome);
    }
  } catch (err) {
    throw locate(err, raw, plan.label);
  }
  if (outcome.createdBy !== null) {
    const entry = { created: session.created, created_by: outcome.createdBy, comment: HISTORY_COMMENT };
    state.history.push(outcome.layer ? entry : { ...entry, empty_layer: true });
  }
  const durationMs = Date.now() - started;
  const layer = outcome.layer?.digest ?? null;
  const cached = outcome.cached === true;
  session.steps.push({ stage: plan.label, instruction: ref.instruction, cached, layer, durationMs });
  session.emit({ type: 'step-end', step: ref, cached, layer, durationMs });
}
