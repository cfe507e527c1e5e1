/**
 * COPY and ADD: selecting sources (context, stage, image, URL, heredoc),
 * copying them with BuildKit's rules, unpacking ADD archives, and turning
 * what was written into one layer.
 * @module
 */
import { sha256 } from '../../digest.js';
import type { AddInstruction, CopyInstruction } from '../../dockerfile/instructions/types.js';
import { bytesSource, type Entry } from '../../layers/entry.js';
import { layerFromEntries } from '../../layers/from-entries.js';
import { LowerStack } from '../../unionfs/lower-stack.js';
import type { ChecksumTap } from '../../context/checksum-tap.js';
import { ContextError } from '../../context/errors.js';
import { extractArchive, isExtractable } from '../copy/archive.js';
import { parseChmod, type ChmodSpec } from '../copy/chmod.js';
import { destinationPath } from '../copy/destination.js';
import { cleanDest, copyItem, heredocItem, prepareDestination, type CopyAttrs } from '../copy/copy.js';
import { parentsItems } from '../copy/parents.js';
import { contextSourceFs, RootfsNotFoundError, type CopyItem, type SourceFs } from '../copy/sources.js';
import { CopyTarget } from '../copy/target.js';
import { BuildError, positionOf } from '../errors.js';
import { resolveFromRef } from '../stages.js';
import { userError, type StageRun, type StepOutcome } from './context.js';

function isUrl(source: string): boolean {
  return source.startsWith('http://') || source.startsWith('https://');
}

function isGit(source: string): boolean {
  return source.startsWith('git@') || source.startsWith('git://') || /^https?:\/\/[^/]+\/.+\.git(#.*)?$/.test(source);
}

/**
 * Runs COPY or ADD (already expanded). With a `tap`, context sources are
 * selected through it, so the selection's checksum comes from the copy's own
 * reads (taken before this returns).
 */
export async function runCopy(run: StageRun, ins: CopyInstruction | AddInstruction, tap?: ChecksumTap): Promise<StepOutcome> {
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

  // Where the sources come from.
  let sourceFs: SourceFs = contextSourceFs(session.context, 'context', tap);
  if (ins.kind === 'copy' && ins.from !== undefined) {
    const ref = resolveFromRef(ins.from, session.graph.plans.map((p) => p.stage), new Set(Object.keys(session.options.buildContexts ?? {})), ins, plan.label);
    if (ref.kind === 'stage' && ref.index >= plan.index) {
      throw new BuildError(
        'UNKNOWN_STAGE',
        `cannot copy from stage "${ins.from}", it needs to be defined before current stage "${plan.label}"`,
        { ...position, reference: ins.from },
      );
    }
    sourceFs = await session.sourceFs(ref, ins, plan.label);
  }

  // Select what to copy.
  const items: Array<{ item: CopyItem; unpack: boolean }> = [];
  for (const source of ins.sources) {
    session.checkAborted();
    if (isAdd && isGit(source)) {
      throw new BuildError('ADD_GIT_UNSUPPORTED', `ADD of a git repository (${source}) is not supported: clone it into the context first`, { ...position, reference: source });
    }
    if (isUrl(source)) {
      if (!isAdd) throw new BuildError('COPY_INVALID_OPTION', 'source can\'t be a URL for COPY', { ...position, reference: source });
      items.push({ item: await fetchItem(run, ins as AddInstruction, source), unpack: ins.kind === 'add' && ins.unpack === true });
      continue;
    }
    let selected: CopyItem[];
    try {
      if (ins.kind === 'copy' && ins.parents) {
        selected = await parentsItems(sourceFs, source, ins.exclude);
      } else {
        selected = await sourceFs.select([source], { excludes: ins.exclude });
      }
    } catch (err) {
      throw sourceError(err, source, sourceFs, position);
    }
    const unpack = isAdd && (ins as AddInstruction).unpack !== false && sourceFs.kind === 'context';
    for (const item of selected) items.push({ item, unpack });
  }
  for (const heredoc of ins.heredocs) items.push({ item: heredocItem(heredoc.path, heredoc.content, createdMtime), unpack: false });

  // BuildKit builds `--link` copies (without --chmod) on an empty file system, merged on top afterwards.
  const link = ins.link && ins.chmod === undefined;

  const target = new CopyTarget(link ? LowerStack.empty() : await state.stack());
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

  const text = historyText(ins);
  const entries = target.entries();
  if (entries.length === 0) {
    await tap?.digest();
    return { createdBy: text, layer: null };
  }
  const layer = layerFromEntries(entries, session.layerOptions());
  const staged = await session.spool.stage(layer, session.options.signal);
  // After the layer: its writer read the files, and the checksum takes their digests from that read.
  await tap?.digest();
  state.addLayerFromEntries(staged, entries);
  return { createdBy: text, layer: { digest: await staged.digest() } };
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
  let name = '__unnamed__';
  try {
    const base = new URL(url).pathname.split('/').filter(Boolean).pop();
    if (base) name = decodeURIComponent(base);
  } catch {
    /* keep the default name */
  }
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
