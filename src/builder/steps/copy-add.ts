/**
 * COPY and ADD: selecting sources (context, stage, image, URL, heredoc)
 * once per step for both the cache key and the copy, copying them with
 * BuildKit's rules, unpacking ADD archives, and turning what was written
 * into one layer.
 * @module
 */
import { posix } from 'node:path';
import { sha256 } from '../../digest.js';
import type { AddInstruction, CopyInstruction } from '../../dockerfile/instructions/types.js';
import { bytesSource, type Entry } from '../../layers/entry.js';
import { layerFromEntries } from '../../layers/from-entries.js';
import { LowerStack } from '../../unionfs/lower-stack.js';
import type { BuildContext } from '../../context/context.js';
import type { ChecksumTap } from '../../context/checksum-tap.js';
import { ContextError } from '../../context/errors.js';
import type { CopySource } from '../../context/sources.js';
import type { StatCache } from '../../context/stat-cache.js';
import { imageIdentity, imageSelectionKey, stageSelectionChecksum, type InputEnv, type SelectionSpec } from '../cache/inputs.js';
import { checksumItems } from '../cache/selection.js';
import { extractArchive, isExtractable } from '../copy/archive.js';
import { parseChmod, type ChmodSpec } from '../copy/chmod.js';
import { destinationPath } from '../copy/destination.js';
import { cleanDest, copyItem, heredocItem, prepareDestination, type CopyAttrs } from '../copy/copy.js';
import { parentsItems } from '../copy/parents.js';
import { contextSourceFs, RootfsNotFoundError, type CopyItem, type SourceFs } from '../copy/sources.js';
import { CopyTarget } from '../copy/target.js';
import { BuildError, positionOf } from '../errors.js';
import type { BuildSession } from '../session-types.js';
import { resolveFromRef, type SourceRef } from '../stages.js';
import { userError, type StageRun, type StepOutcome } from './context.js';
import { replayLayer, type Step } from './step.js';

type CopyLike = CopyInstruction | AddInstruction;

function isUrl(source: string): boolean {
  return source.startsWith('http://') || source.startsWith('https://');
}

function isGit(source: string): boolean {
  return source.startsWith('git@') || source.startsWith('git://') || /^https?:\/\/[^/]+\/.+\.git(#.*)?$/.test(source);
}

/** BuildKit builds `--link` copies without `--chmod` on an empty file system, merged on top afterwards. */
function linked(ins: CopyLike): boolean {
  return ins.link === true && ins.chmod === undefined;
}

/** A `--chown` naming a user or group (resolved in the stage), not numeric ids. */
function namedOwner(chown: string | undefined): chown is string {
  return chown !== undefined && chown !== '' && !/^[0-9]+(:[0-9]+)?$/.test(chown);
}

/** One selected object, whether ADD may unpack it, and whether it is a local source (not a URL or heredoc). */
interface Selected {
  item: CopyItem;
  unpack: boolean;
  local: boolean;
}

/**
 * What one COPY/ADD reads, selected once: `--from` resolved once, each
 * source selected once (lazily: a hit keyed on a remembered checksum selects
 * nothing), the same objects handed to the key and to the copy. For the
 * build context, a copy that runs before its key is read hashes the files
 * as it copies them, so the key costs no second read.
 */
export class CopySelection {
  readonly #run: StageRun;
  readonly #ins: CopyLike;
  readonly #parents: boolean;
  #from: Promise<{ ref: SourceRef | undefined; fs: () => Promise<SourceFs> }> | undefined;
  #selected: Promise<Selected[]> | undefined;
  /** Each context's sources as selected (for its checksum), in copy order. */
  readonly #contextSources = new Map<BuildContext, CopySource[]>();
  #tap: ChecksumTap | undefined;

  constructor(run: StageRun, ins: CopyLike) {
    this.#run = run;
    this.#ins = ins;
    this.#parents = ins.kind === 'copy' && ins.parents === true;
  }

  get #local(): string[] {
    return this.#ins.sources.filter((s) => !isUrl(s));
  }

  /** The `--from` source, resolved once; a later stage is refused. */
  #source(): Promise<{ ref: SourceRef | undefined; fs: () => Promise<SourceFs> }> {
    this.#from ??= (async () => {
      const { session, plan } = this.#run;
      const ins = this.#ins;
      const from = ins.kind === 'copy' ? ins.from : undefined;
      if (from === undefined) {
        const fs = contextSourceFs(session.context, 'context', { selected: (s) => this.noteContext(session.context, s), observe: (e) => this.observe(e) });
        return { ref: undefined, fs: async () => fs };
      }
      const ref = resolveFromRef(from, session.graph.plans.map((p) => p.stage), new Set(Object.keys(session.options.buildContexts ?? {})), ins, plan.label);
      if (ref.kind === 'stage' && ref.index >= plan.index) {
        throw new BuildError('UNKNOWN_STAGE', `cannot copy from stage "${from}", it needs to be defined before current stage "${plan.label}"`, {
          ...positionOf(ins, plan.label),
          reference: from,
        });
      }
      const dir = ref.kind === 'context' ? await session.namedDirectory(ref.name) : undefined;
      if (dir) {
        const fs = contextSourceFs(dir, `context ${from}`, { selected: (s) => this.noteContext(dir, s) });
        return { ref, fs: async () => fs };
      }
      let fs: Promise<SourceFs> | undefined;
      return { ref, fs: () => (fs ??= session.sourceFs(ref, ins, plan.label)) };
    })();
    return this.#from;
  }

  /**
   * Starts hashing what the copy reads from the build context (call before
   * it reads anything): the key, read after the copy, then comes from the
   * copy's own reads.
   */
  async tapContext(statCache: StatCache): Promise<void> {
    if (this.#selected !== undefined || this.#tap !== undefined) return;
    this.#tap = await this.#run.session.context.tapChecksum({ cache: statCache });
  }

  /** @internal The tap of the build context's entries, if one was started. */
  observe(entry: Entry): Entry {
    return this.#tap ? this.#tap.observe(entry) : entry;
  }

  /** @internal Notes a context's sources as they are selected (the build context's join the tap). */
  noteContext(context: BuildContext, sources: readonly CopySource[]): void {
    const list = this.#contextSources.get(context) ?? [];
    list.push(...sources);
    this.#contextSources.set(context, list);
    if (context === this.#run.session.context) this.#tap?.add(sources);
  }

  /** Every object to copy, in order: sources (URLs fetched), then heredocs. Selected once. */
  items(): Promise<Selected[]> {
    this.#selected ??= this.#select();
    return this.#selected;
  }

  async #select(): Promise<Selected[]> {
    const { session, plan } = this.#run;
    const ins = this.#ins;
    const position = positionOf(ins, plan.label);
    const isAdd = ins.kind === 'add';
    const { fs: sourceFs } = await this.#source();
    const items: Selected[] = [];
    for (const source of ins.sources) {
      session.checkAborted();
      if (isAdd && isGit(source)) {
        throw new BuildError('ADD_GIT_UNSUPPORTED', `ADD of a git repository (${source}) is not supported: clone it into the context first`, { ...position, reference: source });
      }
      if (isUrl(source)) {
        if (!isAdd) throw new BuildError('COPY_INVALID_OPTION', 'source can\'t be a URL for COPY', { ...position, reference: source });
        items.push({ item: await fetchItem(this.#run, ins as AddInstruction, source), unpack: (ins as AddInstruction).unpack === true, local: false });
        continue;
      }
      const fs = await sourceFs();
      let selected: CopyItem[];
      try {
        selected = this.#parents ? await parentsItems(fs, source, ins.exclude) : await fs.select([source], { excludes: ins.exclude });
      } catch (err) {
        throw sourceError(err, source, fs, position);
      }
      const unpack = isAdd && (ins as AddInstruction).unpack !== false && fs.kind === 'context';
      for (const item of selected) items.push({ item, unpack, local: true });
    }
    const mtime = session.epoch ?? 0;
    for (const heredoc of ins.heredocs) items.push({ item: heredocItem(heredoc.path, heredoc.content, mtime), unpack: false, local: false });
    return items;
  }

  /** The selected local sources (no URLs, no heredocs), for checksums. */
  async #localItems(): Promise<CopyItem[]> {
    return (await this.items()).flatMap(({ item, local }) => (local ? [item] : []));
  }

  /** The key input of the local sources (see `docs/cache.md`). */
  async checksum(env: InputEnv): Promise<unknown[]> {
    const { session, plan } = this.#run;
    const { ref } = await this.#source();
    const spec: SelectionSpec = { sources: this.#local, excludes: this.#ins.exclude, parents: this.#parents };
    if (ref === undefined) return ['context', await this.#contextChecksum(session.context, env)];
    switch (ref.kind) {
      case 'scratch':
        return ['from', imageSelectionKey(null, spec)];
      case 'image':
        return ['from', imageSelectionKey(imageIdentity(await session.image(ref.ref, this.#ins, plan.label)), spec)];
      case 'context': {
        const dir = await session.namedDirectory(ref.name);
        if (dir) return ['from', await this.#contextChecksum(dir, env)];
        const image = await session.image(session.options.buildContexts?.[ref.name] ?? ref.name, this.#ins, plan.label);
        return ['from', imageSelectionKey(imageIdentity(image), spec)];
      }
      case 'stage':
        return ['from', await stageSelectionChecksum(await session.stage(ref.index), spec, () => this.#localItems(), env)];
    }
  }

  /** A context's checksum of the selection: the copy's tap when it read first, else through the stat index. */
  async #contextChecksum(context: BuildContext, env: InputEnv): Promise<string> {
    const items = await this.#localItems();
    if (this.#parents) return checksumItems(items, { withPaths: true });
    if (this.#tap && context === this.#run.session.context) return this.#tap.digest();
    return context.checksum(this.#contextSources.get(context) ?? [], { cache: env.statCache });
  }
}

/** COPY and ADD. */
export const copyStep: Step<CopyLike, CopySelection> = {
  readsFs: true,
  stacks: false,
  prepare: (run, ins) => new CopySelection(run, ins),
  async inputs(run, ins, selection, env) {
    const out: unknown[] = [];
    if (linked(ins)) {
      // Not covered by a parent key: where relative destinations land, and who a named owner is.
      out.push(['dest', destinationPath(run.state.container.WorkingDir, ins.dest)]);
      if (namedOwner(ins.chown)) out.push(['owner', await run.users.chownOwner(ins.chown)]);
    }
    for (const url of ins.sources.filter(isUrl)) out.push(['url', url, ...(await urlDigest(run.session, ins, url))]);
    if (ins.sources.some((s) => !isUrl(s))) out.push(await selection.checksum(env));
    return out;
  },
  keyAfterRun(ins) {
    // Context sources only (no --from, no --parents); a --link copy with a named owner resolves it in
    // the stage the copy may change, so it is keyed before.
    if (ins.kind === 'copy' && (ins.from !== undefined || ins.parents === true)) return false;
    if (linked(ins) && namedOwner(ins.chown)) return false;
    return ins.sources.some((s) => !isUrl(s));
  },
  independent: linked,
  async execute(run, ins, selection, ctx) {
    if (ctx.keyAfterRun) await selection.tapContext(ctx.statCache);
    return runCopy(run, ins, selection);
  },
  replay: (run, _ins, hit) => replayLayer(run, hit),
};

/** Runs COPY or ADD (already expanded) over its selection. */
async function runCopy(run: StageRun, ins: CopyLike, selection: CopySelection): Promise<StepOutcome> {
  const { session, state, plan } = run;
  const position = positionOf(ins, plan.label);
  const isAdd = ins.kind === 'add';
  const dest = destinationPath(state.container.WorkingDir, ins.dest);

  let chmod: ChmodSpec | undefined;
  if (ins.chmod !== undefined) {
    chmod = parseChmod(ins.chmod);
    if (!chmod) {
      throw new BuildError('COPY_INVALID_OPTION', `invalid chmod parameter: '${ins.chmod}'. it should be octal string and between 0 and 07777`, position);
    }
  }
  if (isAdd && ins.checksum !== undefined) {
    if (ins.sources.length !== 1) throw new BuildError('COPY_INVALID_OPTION', 'checksum can\'t be specified for multiple sources', position);
    if (!isUrl(ins.sources[0]!)) throw new BuildError('COPY_INVALID_OPTION', 'checksum requires HTTP(S) or Git sources', position);
    if (!/^sha256:[a-f0-9]{64}$/.test(ins.checksum)) {
      throw new BuildError('COPY_INVALID_OPTION', `invalid checksum digest format: ${ins.checksum}`, position);
    }
  }
  let owner: { uid: number; gid: number } | undefined;
  if (ins.chown !== undefined && ins.chown !== '') {
    try {
      owner = await run.users.chownOwner(ins.chown);
    } catch (err) {
      throw userError(err, ins, run);
    }
  }
  const createdMtime = session.epoch ?? 0;
  const attrs: CopyAttrs = { createdMtime, ...(owner ? { owner } : {}), ...(chmod ? { chmod } : {}) };
  const items = await selection.items();
  const entries = await copyToTarget(run, ins, items, dest, attrs);
  const text = historyText(ins);
  if (entries.length === 0) return { createdBy: text, layer: null };
  const index = state.entriesIndex(entries);
  const staged = await session.spool.stage(layerFromEntries(entries, session.layerOptions()), session.options.signal, index);
  state.addLayer(staged, index);
  return { createdBy: text, layer: { digest: await staged.digest(), layer: staged, index } };
}

/**
 * Copies the items onto the stage's file system and returns the layer's
 * entries. The copy's view of every written path is dropped when this
 * returns, before the layer is written.
 */
async function copyToTarget(run: StageRun, ins: CopyLike, items: Selected[], dest: string, attrs: CopyAttrs): Promise<Entry[]> {
  const { session, state, plan } = run;
  const position = positionOf(ins, plan.label);
  const isAdd = ins.kind === 'add';
  const target = new CopyTarget(linked(ins) ? LowerStack.empty() : await state.stack());
  if (items.length > 1 && !dest.endsWith('/') && target.stat(cleanDest(dest))?.type !== 'dir') {
    throw new BuildError(
      'COPY_DEST_NOT_DIRECTORY',
      `When using ${isAdd ? 'ADD' : 'COPY'} with more than one source file, the destination must be a directory and end with a /`,
      { ...position, path: ins.dest },
    );
  }
  try {
    const resolvedDest = prepareDestination(target, dest, attrs);
    for (const { item, unpack } of items) {
      session.checkAborted();
      if (unpack && item.type === 'file') {
        let content: Entry['content'];
        for await (const { entry } of item.entries()) content = entry.content ?? bytesSource(new Uint8Array(0));
        if (content && (await isExtractable(content, item.source))) {
          await extractArchive(target, content, item.source, resolvedDest, attrs, session.spool.dir);
          continue;
        }
      }
      await copyItem(target, item, resolvedDest, attrs);
    }
  } catch (err) {
    if (err instanceof BuildError && err.data.line === undefined) {
      throw new BuildError(err.code, err.message, { ...err.data, ...position }, { cause: err });
    }
    throw err;
  }
  return target.entries();
}

/** A URL's content identity: the `--checksum` given, else the fetched bytes' digest and Last-Modified time. */
async function urlDigest(session: BuildSession, ins: CopyLike, url: string): Promise<unknown[]> {
  if (ins.kind === 'add' && ins.checksum !== undefined) return [ins.checksum];
  if (!session.fetcher) throw new Error('no fetcher');
  const { data, mtime } = await session.fetcher(url, session.options.signal ? { signal: session.options.signal } : {});
  return [sha256(data), mtime === undefined ? null : Math.floor(mtime)];
}

/** BuildKit's history text of COPY/ADD. */
function historyText(ins: CopyInstruction | AddInstruction): string {
  let text = ins.kind === 'add' ? 'ADD' : 'COPY';
  if (ins.kind === 'copy' && ins.parents) text += ' --parents';
  if (ins.chown !== undefined) text += ` --chown=${ins.chown}`;
  if (ins.chmod !== undefined) text += ` --chmod=${ins.chmod}`;
  for (const source of ins.sources) text += ` ${source}`;
  for (const heredoc of ins.heredocs) text += ` <<${heredoc.path}`;
  return `${text} ${ins.dest} # buildkit`;
}

function sourceError(err: unknown, source: string, fs: SourceFs, position: ReturnType<typeof positionOf>): unknown {
  if (err instanceof ContextError) {
    if (err.code === 'CONTEXT_OUTSIDE') {
      return new BuildError('COPY_SOURCE_OUTSIDE_CONTEXT', `${source}: ${err.message}`, { ...position, path: source, reason: err.data.reason ?? err.message }, { cause: err });
    }
    if (err.code === 'CONTEXT_NOT_FOUND') {
      return new BuildError('COPY_SOURCE_NOT_FOUND', `failed to compute cache key: "${source}": not found in ${fs.label}`, { ...position, path: source }, { cause: err });
    }
    return new BuildError('COPY_INVALID_OPTION', err.message, { ...position, path: source }, { cause: err });
  }
  if (err instanceof RootfsNotFoundError) {
    return new BuildError('COPY_SOURCE_NOT_FOUND', `failed to compute cache key: "${source}": not found in ${fs.label}`, { ...position, path: source }, { cause: err });
  }
  if (err instanceof BuildError && err.data.line === undefined) return new BuildError(err.code, err.message, { ...err.data, ...position }, { cause: err });
  return err;
}

/** ADD of a URL: through the `fetcher` option, checked against `--checksum`, mode 0600 as BuildKit writes it. */
async function fetchItem(run: StageRun, ins: AddInstruction, url: string): Promise<CopyItem & { digest: string }> {
  const { session } = run;
  const position = positionOf(ins, run.plan.label);
  if (!session.fetcher) {
    throw new BuildError(
      'ADD_URL_NO_FETCHER',
      `ADD ${url}: layerkit does not download; pass a \`fetcher\` option to build() to fetch URLs`,
      { ...position, reference: url },
    );
  }
  const { data, mtime } = await session.fetcher(url, session.options.signal ? { signal: session.options.signal } : {});
  if (ins.checksum !== undefined) {
    const actual = sha256(data);
    if (actual !== ins.checksum) {
      throw new BuildError('ADD_CHECKSUM_MISMATCH', `digest mismatch for ${url}: expected ${ins.checksum}, got ${actual}`, {
        ...position,
        reference: url,
        expected: ins.checksum,
        actual,
      });
    }
  }
  const name = urlFileName(url);
  const entry: Entry = {
    path: '/' + name,
    type: 'file',
    mode: 0o600,
    uid: 0,
    gid: 0,
    mtime: Math.floor(mtime ?? session.epoch ?? 0),
    size: data.byteLength,
    content: bytesSource(data),
  };
  return {
    digest: sha256(data),
    source: url,
    path: '/' + name,
    name,
    type: 'file',
    async *entries() {
      yield { rel: '', entry };
    },
  };
}

/**
 * The name ADD gives a downloaded file: the last element of the URL's
 * decoded path, as BuildKit takes `path.Base` of Go's decoded `URL.Path`
 * (`a%2F..%2Fpasswd` names `passwd`), or `__unnamed__` when that is empty,
 * `.`, `..` or not a file name.
 */
function urlFileName(url: string): string {
  let path: string;
  try {
    path = decodeURIComponent(new URL(url).pathname);
  } catch {
    return '__unnamed__';
  }
  const base = posix.basename(path);
  return base === '' || base === '.' || base === '..' || base.includes('\0') ? '__unnamed__' : base;
}
