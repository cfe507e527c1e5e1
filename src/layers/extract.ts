/**
 * Extracting a layer onto a real directory, with the semantics of
 * {@link apply} (whiteouts, opaque directories, directory-onto-directory
 * merges) and safe on hostile input.
 *
 * How it stays safe and all-or-nothing:
 *
 * 1. **Stage.** The layer is written into a fresh private directory created
 *    beside the target (`.<name>.layerkit-XXXXXX`, mode 0700). Names are
 *    cleaned ({@link normalizePath}: every leading `/` stripped, `..` above
 *    the root refused); duplicates are refused, so every staged path is
 *    created exactly once and a directory can never later become a symlink;
 *    an entry below a staged symlink or file is refused; files are created
 *    with `O_CREAT|O_EXCL|O_NOFOLLOW`. Hardlinks are made last, to a staged
 *    file or to a lower file found with `lstat` on every component. Every
 *    validation error happens here, before the target is touched.
 * 2. **Place.** Into an empty or missing target: one `rename(2)`. Onto an
 *    existing tree: whiteouts and opaque markers move lower paths into a
 *    trash folder inside the staging directory, staged paths are renamed
 *    into place, and every step is journaled; on any error the journal is
 *    undone in reverse, so the target is left as it was before the call.
 *    Each target path is looked up afresh with `lstat` on every component;
 *    a symlinked ancestor is an {@link UnsafePathError}.
 *
 * Not defended: another process changing the target while it is extracted
 * (the TOCTOU class of CVE-2018-15664), and a crash between steps (the
 * staging directory is then left beside the target). Not supported: a target
 * that is a mount point, or has mount points below it (renames across file
 * systems fail with `EXDEV`, and are rolled back).
 * @module
 */
import { link, mkdir, mkdtemp, readdir, realpath, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { LayerkitError } from '../errors.js';
import { isLayer } from './changes/apply.js';
import { hostPath, lookup, makeSpecial, setMetadata, writeXattrs, type MetadataPolicy } from './changes/disk.js';
import { LayerFormatError } from './changes/errors.js';
import { FileWriter } from './changes/file-writer.js';
import { mergeIntoTarget, type StagedTree } from './changes/merge.js';
import { PlanBuilder } from './changes/plan.js';
import { comparePaths, type Entry } from './entry.js';
import { UnsafePathError } from './errors.js';
import type { Layer } from './layer.js';
import { ancestorPaths, type NormalizePathOptions } from './path.js';
import { readTar, type TarMember } from './tar/read.js';
import { IMPLICIT_DIRECTORY } from './tree.js';

/** Options of {@link extractLayer}. */
export interface ExtractOptions {
  /** Names with leading slashes: read from the root (`'strip'`, default, as GNU tar) or refused (`'reject'`). */
  absoluteNames?: NormalizePathOptions['absolute'];
  /**
   * Device nodes (char, block). `'auto'` (default): created when running as
   * root, skipped (and listed in the result) when not, or when the kernel
   * refuses (inside a user namespace). `'skip'`: never created. `'error'`:
   * an {@link ExtractError} when one cannot be created.
   */
  devices?: 'auto' | 'skip' | 'error';
  /** Set owners from the layer (default: when running as root). */
  owners?: boolean;
  /** Set xattrs where permitted (default true); failures are listed in the result. */
  xattrs?: boolean;
}

/** What {@link extractLayer} did. */
export interface ExtractResult {
  /** `fresh`: the target was missing or empty and was renamed into place whole; `merge`: applied onto existing files. */
  mode: 'fresh' | 'merge';
  /** Entries written (whiteouts and opaque markers not counted). */
  entries: number;
  /** Paths not (fully) reproduced, with why: device nodes when not permitted, xattrs not permitted. */
  skipped: Array<{ path: string; reason: string }>;
  /** Paths the layer whites out (deleted from the layers below), in walk order. */
  whiteouts: string[];
  /** Directories the layer makes opaque (their lower children hidden), in walk order. */
  opaques: string[];
}

/**
 * The target cannot be used, or (with `devices: 'error'`) a device node
 * could not be created.
 *
 * @example
 * ```ts
 * if (err instanceof ExtractError && err.code === 'TARGET_NOT_DIRECTORY') console.error(err.data.path);
 * ```
 */
export class ExtractError extends LayerkitError<'TARGET_NOT_DIRECTORY' | 'DEVICE_NOT_CREATED', { path: string; reason: string }> {
  constructor(code: 'TARGET_NOT_DIRECTORY' | 'DEVICE_NOT_CREATED', path: string, reason: string) {
    super(code, `${path}: ${reason}`, { path, reason });
  }
}

/**
 * Applies a layer onto directory `dir` (created if missing; its parent must
 * exist), as {@link apply} would apply it to the tree that `dir` holds.
 *
 * @throws {@link UnsafePathError}, {@link LayerFormatError}, the tar reader's
 *   errors (`TAR_TRUNCATED`…), {@link ExtractError}, fs errors with Node's
 *   codes. In every case `dir` is left as it was.
 * @example
 * ```ts
 * const result = await extractLayer(layerFromTarFile('layer.tar.gz'), './rootfs');
 * for (const s of result.skipped) console.warn(s.path, s.reason);
 * ```
 */
export async function extractLayer(layer: Layer | AsyncIterable<TarMember>, dir: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  const target = await prepareTarget(resolve(dir));
  const container = await mkdtemp(join(dirname(target.path), `.${basename(target.path)}.layerkit-`));
  try {
    const stage = join(container, 'root');
    await mkdir(stage, { mode: 0o700 });
    const policy: MetadataPolicy = { owners: options.owners ?? process.getuid?.() === 0 };
    const staged = await stageLayer(layer, stage, target, container, policy, options);
    if (target.empty) {
      await staged.finalize('/');
      if (!staged.plan.written.has('/')) await copyRootAttributes(target, stage, policy);
      try {
        await rename(stage, target.path);
        return { mode: 'fresh', ...summary(staged) };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        // Something appeared in the target meanwhile: merge instead.
      }
    }
    await mergeIntoTarget(staged, target.path, join(container, 'trash'), policy);
    return { mode: 'merge', ...summary(staged) };
  } finally {
    // Best effort: a failure to clean up must not hide the error that got us here.
    await rm(container, { recursive: true, force: true }).catch(() => undefined);
  }
}

function summary(staged: StagedTree): Omit<ExtractResult, 'mode'> {
  const sorted = (list: string[]) => [...list].sort(comparePaths);
  return { entries: staged.count, skipped: staged.skipped, whiteouts: sorted(staged.plan.whiteouts), opaques: sorted(staged.plan.opaques) };
}

interface Target {
  path: string;
  empty: boolean;
  existed: boolean;
}

async function prepareTarget(path: string): Promise<Target> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // Its parent must exist (ENOENT otherwise): nothing outside the target is created.
    return { path, empty: true, existed: false };
  }
  if (!info.isDirectory()) throw new ExtractError('TARGET_NOT_DIRECTORY', path, 'exists and is not a directory');
  const real = await realpath(path);
  return { path: real, empty: (await readdir(real)).length === 0, existed: true };
}

async function copyRootAttributes(target: Target, stage: string, policy: MetadataPolicy): Promise<void> {
  const root = target.existed ? await stat(target.path) : undefined;
  const entry: Entry = root
    ? { path: '/', type: 'dir', mode: root.mode & 0o7777, uid: root.uid, gid: root.gid, mtime: Math.floor(root.mtimeMs / 1000), size: 0 }
    : { ...IMPLICIT_DIRECTORY, path: '/' };
  await setMetadata(stage, entry, policy);
}

/** Streams the layer into the staging directory (step 1). */
async function stageLayer(
  layer: Layer | AsyncIterable<TarMember>,
  stage: string,
  target: Target,
  scratch: string,
  policy: MetadataPolicy,
  options: ExtractOptions,
): Promise<StagedTree> {
  const builder = new PlanBuilder({ absolute: options.absoluteNames ?? 'strip' });
  const types = new Map<string, Entry['type']>([['/', 'dir']]);
  const implicit = new Set<string>();
  const skipped: ExtractResult['skipped'] = [];
  const xattrs: Array<{ host: string; path: string; xattrs: Readonly<Record<string, Uint8Array>> }> = [];
  const devices = options.devices ?? 'auto';
  const root = process.getuid?.() === 0;
  let count = 0;

  const parents = async (path: string, name: string): Promise<void> => {
    for (const dir of ancestorPaths(path)) {
      const type = types.get(dir);
      if (type === 'dir') continue;
      if (type === 'symlink') throw new UnsafePathError(name, `ancestor ${dir} is a symlink in this layer`);
      if (type !== undefined) throw new LayerFormatError('NOT_A_DIRECTORY', name, `${dir} is a ${type} in this layer`);
      await mkdir(hostPath(stage, dir), { mode: 0o700 });
      types.set(dir, 'dir');
      implicit.add(dir);
    }
  };

  const writer = new FileWriter(policy);
  try {
    for await (const member of isLayer(layer) ? readTar(layer.uncompressed()) : layer) {
      const { kind, entry } = builder.add(member.entry, member.name);
      if (kind !== 'entry') {
        for await (const _ of member.body) void _;
        // A hardlink needs its parents; an opaque marker needs its directory.
        if (kind === 'hardlink' || kind === 'opaque') await parents(entry.path, member.name);
        continue;
      }
      await parents(entry.path, member.name);
      if (entry.type !== 'dir' && types.has(entry.path)) {
        throw new LayerFormatError('NOT_A_DIRECTORY', member.name, `a ${entry.type}, but this layer has entries below it`);
      }
      const host = hostPath(stage, entry.path);
      count++;
      if (entry.type === 'dir') {
        if (entry.path !== '/' && !implicit.delete(entry.path)) await mkdir(host, { mode: 0o700 });
        types.set(entry.path, 'dir');
        for await (const _ of member.body) void _;
      } else {
        types.set(entry.path, entry.type);
        if (entry.type === 'file') {
          await writer.write(host, member.body, entry);
        } else {
          for await (const _ of member.body) void _;
          if (entry.type === 'symlink') {
            await symlink(entry.linkname ?? '', host);
            await setMetadata(host, entry, policy);
          } else {
            const isDevice = entry.type === 'char' || entry.type === 'block';
            const reason = isDevice && (devices === 'skip' || (devices === 'auto' && !root)) ? 'device nodes need root' : await makeSpecial(host, entry);
            if (reason !== null) {
              if (isDevice && devices === 'error') throw new ExtractError('DEVICE_NOT_CREATED', entry.path, reason);
              if (!isDevice) throw new ExtractError('DEVICE_NOT_CREATED', entry.path, reason);
              skipped.push({ path: entry.path, reason });
              types.set(entry.path, 'fifo');
              count--;
              continue;
            }
            await setMetadata(host, entry, policy);
          }
        }
      }
      if (entry.xattrs && Object.keys(entry.xattrs).length > 0 && options.xattrs !== false) xattrs.push({ host, path: entry.path, xattrs: entry.xattrs });
    }
    await writer.drain();
  } finally {
    await writer.settle();
  }
  const plan = builder.finish();

  // Hardlinks last: to a staged entry, or to a lower file looked up safely.
  for (const entry of plan.hardlinks) {
    let targetPath = entry.linkname!;
    for (let hops = 0; plan.written.get(targetPath)?.type === 'hardlink'; hops++) {
      if (hops > plan.hardlinks.length) throw new LayerFormatError('HARDLINK_TARGET_MISSING', entry.path, 'hardlinks form a cycle');
      targetPath = plan.written.get(targetPath)!.linkname!;
    }
    const inLayer = plan.written.get(targetPath);
    let source: string;
    if (inLayer) {
      if (inLayer.type === 'dir') throw new LayerFormatError('HARDLINK_TARGET_MISSING', entry.path, `hardlink target ${targetPath} is a directory`);
      if (skipped.some((s) => s.path === targetPath)) {
        skipped.push({ path: entry.path, reason: `hardlink to skipped ${targetPath}` });
        continue;
      }
      source = hostPath(stage, targetPath);
    } else {
      const found = target.empty ? ({ kind: 'missing' } as const) : await lookup(target.path, targetPath);
      if (found.kind === 'symlink') throw new UnsafePathError(entry.path, `hardlink target ${targetPath} is below symlink ${found.at}`);
      if (found.kind !== 'found' || found.stat.isDirectory()) {
        throw new LayerFormatError('HARDLINK_TARGET_MISSING', entry.path, `hardlink target ${targetPath} is ${found.kind === 'found' ? 'a directory' : 'in neither this layer nor the target'}`);
      }
      source = found.host;
    }
    await link(source, hostPath(stage, entry.path));
    types.set(entry.path, 'file');
    count++;
  }

  for (const failure of await writeXattrs(xattrs, scratch)) {
    skipped.push({ path: xattrs.find((x) => x.host === failure.host)?.path ?? failure.host, reason: `xattrs: ${failure.reason}` });
  }
  return new StagedTreeImpl(stage, plan, types, implicit, skipped, count, policy);
}

class StagedTreeImpl implements StagedTree {
  constructor(
    readonly root: string,
    readonly plan: StagedTree['plan'],
    readonly types: Map<string, Entry['type']>,
    readonly implicit: Set<string>,
    readonly skipped: ExtractResult['skipped'],
    readonly count: number,
    readonly policy: MetadataPolicy,
  ) {}

  /** Sets directory attributes below (and at) `path` in the staging area, deepest first. */
  async finalize(path: string): Promise<void> {
    const dirs: string[] = [];
    for (const [p, type] of this.types) if (type === 'dir' && (path === '/' || p === path || p.startsWith(path + '/'))) dirs.push(p);
    dirs.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
    for (const dir of dirs) {
      const entry = this.plan.written.get(dir) ?? (dir === '/' ? undefined : { ...IMPLICIT_DIRECTORY, path: dir });
      if (entry) await setMetadata(hostPath(this.root, dir), entry, this.policy);
    }
  }
}
