/**
 * What a step reads besides its text, as key inputs: content checksums of
 * COPY/ADD sources (the context through its stat index; stages by content;
 * images by digest), bind-mounted sources of RUN, fetched URLs, owners a
 * `--link` copy resolves by name, ARG values from outside the stage.
 * @module
 */
import { sha256, type Digest } from '../../digest.js';
import type { AddInstruction, CopyInstruction, Instruction, Mount, RunInstruction } from '../../dockerfile/instructions/types.js';
import type { BuildSession } from '../session-types.js';
import type { BuildContext } from '../../context/context.js';
import type { CopySource } from '../../context/sources.js';
import type { StatCache } from '../../context/stat-cache.js';
import { parentsItems } from '../copy/parents.js';
import { contextSourceFs, type CopyItem } from '../copy/sources.js';
import { resolveFromRef, type SourceRef } from '../stages.js';
import type { StageState } from '../stage-state.js';
import { destinationPath } from '../copy/destination.js';
import type { StageRun } from '../steps/context.js';
import { keyOf, type CacheKey } from './key.js';
import type { CacheRecord } from './records.js';
import { checksumItems } from './selection.js';

/** What key inputs need from the cache around them. */
export interface InputEnv {
  statCache: StatCache;
  /** The chain key a built stage ended with, if it is known. */
  chainOf(state: StageState): CacheKey | undefined;
  /** Remembered content checksums (`content` records), unless lookups are off. */
  recall(key: CacheKey): Promise<CacheRecord | undefined>;
  remember(key: CacheKey, record: CacheRecord): void;
  /** Whether lookups are allowed in the stage being keyed. */
  lookups: boolean;
}

/** The identity of an image for keys: its config digest when known, else the digest of its parsed config. */
export function imageIdentity(image: { config: unknown; digest?: string }): string {
  return image.digest ?? sha256(JSON.stringify(image.config));
}

const isUrl = (s: string) => s.startsWith('http://') || s.startsWith('https://');

/** Key inputs of a step, in a fixed order per instruction kind. */
export async function stepInputs(run: StageRun, ins: Instruction, env: InputEnv): Promise<unknown[]> {
  switch (ins.kind) {
    case 'copy':
    case 'add':
      return copyInputs(run, ins, env);
    case 'run':
      return runInputs(run, ins, env);
    case 'arg':
      // The values an ARG takes from outside the stage: the build arg, else the global (meta) value.
      return ins.args.map((a) => [a.key, run.session.buildArgs.get(a.key) ?? null, run.session.global.get(a.key) ?? null]);
    default:
      return [];
  }
}

/** True when a COPY/ADD builds its layer on an empty tree (`--link` without `--chmod`, as the builder does). */
export function isIndependent(ins: Instruction): boolean {
  return (ins.kind === 'copy' || ins.kind === 'add') && ins.link === true && ins.chmod === undefined;
}

async function copyInputs(run: StageRun, ins: CopyInstruction | AddInstruction, env: InputEnv): Promise<unknown[]> {
  const { session, state, plan } = run;
  const out: unknown[] = [];
  if (isIndependent(ins)) {
    // Not covered by a parent key: where relative destinations land, and who a named owner is.
    out.push(['dest', destinationPath(state.container.WorkingDir, ins.dest)]);
    if (ins.chown !== undefined && ins.chown !== '' && !/^[0-9]+(:[0-9]+)?$/.test(ins.chown)) {
      out.push(['owner', await run.users.chownOwner(ins.chown)]);
    }
  }
  const local = ins.sources.filter((s) => !isUrl(s));
  for (const url of ins.sources.filter(isUrl)) out.push(['url', url, ...(await urlDigest(session, ins, url))]);
  if (local.length === 0) return out;
  const parents = ins.kind === 'copy' && ins.parents === true;
  const from = ins.kind === 'copy' ? ins.from : undefined;
  if (from === undefined) {
    out.push(['context', await contextChecksum(session.context, local, ins.exclude, parents, env)]);
    return out;
  }
  const ref = resolveFromRef(from, session.graph.plans.map((p) => p.stage), new Set(Object.keys(session.options.buildContexts ?? {})), ins, plan.label);
  if (ref.kind === 'stage' && ref.index >= plan.index) throw new Error('copy from a later stage');
  out.push(['from', await sourceChecksum(run, ins, ref, local, ins.exclude, parents, env)]);
  return out;
}

async function runInputs(run: StageRun, ins: RunInstruction, env: InputEnv): Promise<unknown[]> {
  const { run: handler, runCacheKey } = run.session.options;
  // A JavaScript handler's behaviour is its code, which no key can see: only the caller's runCacheKey stands for it.
  if (handler !== undefined && runCacheKey === undefined) throw new Error('RUN served by a handler without runCacheKey: not cached');
  const out: unknown[] = runCacheKey === undefined ? [] : [['run-cache-key', runCacheKey]];
  for (const mount of ins.mounts) if (mount.type === 'bind') out.push(['bind', mount.target ?? '', await bindChecksum(run, ins, mount, env)]);
  return out;
}

async function bindChecksum(run: StageRun, ins: RunInstruction, mount: Mount, env: InputEnv): Promise<string> {
  const { session, plan } = run;
  const source = mount.source ?? '/';
  if (mount.from === undefined || mount.from === '') return contextChecksum(session.context, [source], [], false, env);
  const ref = resolveFromRef(mount.from, session.graph.plans.map((p) => p.stage), new Set(Object.keys(session.options.buildContexts ?? {})), ins, plan.label);
  return sourceChecksum(run, ins, ref, [source], [], false, env);
}

/** The context's checksum of a selection, through the stat index (`--parents` selections by content). */
async function contextChecksum(context: BuildContext, sources: readonly string[], excludes: readonly string[], parents: boolean, env: InputEnv): Promise<string> {
  if (parents) {
    const fs = contextSourceFs(context);
    const items: CopyItem[] = [];
    for (const source of sources) items.push(...(await parentsItems(fs, source, excludes)));
    return checksumItems(items, { withPaths: true });
  }
  const selection: CopySource[] = await context.resolveSources(sources, excludes.length > 0 ? { excludes } : {});
  return context.checksum(selection, { cache: env.statCache });
}

/**
 * The checksum of what `sources` select in a stage, image, named context
 * or scratch. Stages are read by content, remembered under the stage's
 * chain key so an unchanged stage is not read again; images are immutable
 * under their digest, so the digest stands for their content.
 */
async function sourceChecksum(
  run: StageRun,
  ins: Instruction,
  ref: SourceRef,
  sources: readonly string[],
  excludes: readonly string[],
  parents: boolean,
  env: InputEnv,
): Promise<string> {
  const { session, plan } = run;
  const selection = { sources, excludes, parents };
  switch (ref.kind) {
    case 'scratch':
      return keyOf(['scratch', selection]);
    case 'image': {
      const image = await session.image(ref.ref, ins, plan.label);
      return keyOf(['image', imageIdentity(image), selection]);
    }
    case 'context': {
      const dir = await session.namedDirectory(ref.name);
      if (dir) return contextChecksum(dir, sources, excludes, parents, env);
      const value = session.options.buildContexts?.[ref.name] ?? ref.name;
      const image = await session.image(value, ins, plan.label);
      return keyOf(['image', imageIdentity(image), selection]);
    }
    case 'stage': {
      const state = await session.stage(ref.index);
      const chain = env.chainOf(state);
      const memo = chain === undefined ? undefined : keyOf(['content', chain, selection]);
      if (memo !== undefined && env.lookups) {
        const known = await env.recall(memo);
        if (known?.kind === 'content') return known.checksum;
      }
      const fs = await session.sourceFs(ref, ins, plan.label);
      const items: CopyItem[] = [];
      if (parents) for (const source of sources) items.push(...(await parentsItems(fs, source, excludes)));
      else items.push(...(await fs.select(sources, excludes.length > 0 ? { excludes } : {})));
      const checksum = await checksumItems(items, parents ? { withPaths: true } : {});
      if (memo !== undefined) env.remember(memo, { kind: 'content', checksum: checksum as Digest });
      return checksum;
    }
  }
}

/** A URL's content identity: the `--checksum` given, else the fetched bytes' digest and Last-Modified time. */
async function urlDigest(session: BuildSession, ins: CopyInstruction | AddInstruction, url: string): Promise<unknown[]> {
  if (ins.kind === 'add' && ins.checksum !== undefined) return [ins.checksum];
  if (!session.fetcher) throw new Error('no fetcher');
  const { data, mtime } = await session.fetcher(url, session.options.signal ? { signal: session.options.signal } : {});
  return [sha256(data), mtime === undefined ? null : Math.floor(mtime)];
}
