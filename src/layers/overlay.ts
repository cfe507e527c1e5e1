/**
 * Kernel overlayfs upper directories → OCI layers (what moby's overlay2
 * "native diff" and containers/storage do: tar the upperdir, translating
 * overlay's own markers into OCI whiteouts). Only the upperdir is read.
 *
 * Translations (notes §2, "overlayfs upperdir ⇄ OCI"; kernel
 * `Documentation/filesystems/overlayfs.rst`):
 * - a character device 0/0 is a whiteout → `<dir>/.wh.<name>`;
 * - a zero-size regular file with the xattr `trusted.overlay.whiteout` or
 *   `user.overlay.whiteout` is a whiteout too (the form newer kernels use
 *   where device nodes cannot be made);
 * - a directory with `trusted.overlay.opaque` or `user.overlay.opaque` = `y`
 *   is written as the directory plus `<dir>/.wh..wh..opq`;
 * - every `trusted.overlay.*` / `user.overlay.*` xattr is dropped;
 * - `overlay.redirect` (redirect_dir) and `overlay.metacopy` (metadata-only
 *   copy-up) mean the upperdir alone does not describe the change: an
 *   {@link OverlayError}, as Docker then refuses "native diff" too.
 *
 * The kernel may share one inode among all whiteouts of a mount (it links
 * them to a single whiteout in the workdir), so whiteouts that came out as
 * hardlinks of one another are recognised as well.
 *
 * Node has no xattr API: xattrs are read with one `getfattr -R` run over the
 * upperdir (Debian package `attr`), or with a reader you pass. Without either,
 * opaque directories cannot be seen, so the conversion refuses to guess.
 * @module
 */
import { LayerkitError } from '../errors.js';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LayerFormatError } from './changes/errors.js';
import { hostPath, lookup, makeSpecial, writeXattrs } from './changes/disk.js';
import { extractLayer, type ExtractOptions, type ExtractResult } from './extract.js';
import type { TarMember } from './tar/read.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX, whiteoutPath } from './changes/whiteout.js';
import { comparePaths, type Entry } from './entry.js';
import { entriesFromDirectory, type XattrReader } from './from-directory.js';
import { layerFromWalk, type LayerFromEntriesOptions } from './from-entries.js';
import type { Layer } from './layer.js';
import { findGetfattr } from './xattrs.js';
import { ancestorPaths, baseName, childPath } from './path.js';

/** Why an overlay conversion failed. */
export type OverlayErrorCode = 'OVERLAY_UNSUPPORTED' | 'XATTRS_UNAVAILABLE' | 'TARGET_NOT_EMPTY' | 'MARKER_NOT_CREATED';

/**
 * The upperdir uses an overlay feature that makes it an incomplete record of
 * the change (`redirect_dir`, `metacopy`), or xattrs cannot be read.
 *
 * @example
 * ```ts
 * if (err instanceof OverlayError && err.code === 'OVERLAY_UNSUPPORTED') fallBackToTreeDiff();
 * ```
 */
export class OverlayError extends LayerkitError<OverlayErrorCode, { path: string; reason: string }> {
  constructor(code: OverlayErrorCode, path: string, reason: string) {
    super(code, `${path}: ${reason}`, { path, reason });
  }
}

/** Options of {@link overlayUpperEntries} and {@link layerFromOverlayUpper}. */
export interface OverlayUpperOptions extends LayerFromEntriesOptions {
  /** Write every entry with this owner instead of the files' own. */
  owner?: { uid: number; gid: number };
  /** How to read xattrs: `'auto'` (default: `getfattr`, required) or your own reader. */
  xattrs?: 'auto' | XattrReader;
  /** mtime of the whiteout and opaque markers (default `sourceDateEpoch`, else 0). */
  whiteoutMtime?: number;
}

const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;

function overlayXattr(entry: Entry, name: string): Uint8Array | undefined {
  return entry.xattrs?.[`trusted.overlay.${name}`] ?? entry.xattrs?.[`user.overlay.${name}`];
}

/**
 * The OCI layer entries of an overlayfs upperdir, in canonical order.
 *
 * @throws {@link OverlayError} for redirect/metacopy upperdirs or when xattrs
 *   cannot be read; {@link LayerFormatError} `INVALID_WHITEOUT` for a file
 *   whose name starts with `.wh.` (it would read as a whiteout).
 * @example
 * ```ts
 * const entries = await overlayUpperEntries('/var/lib/containers/storage/overlay/abc/diff');
 * ```
 */
export async function overlayUpperEntries(upperDir: string, options: OverlayUpperOptions = {}): Promise<Entry[]> {
  const reader = options.xattrs ?? 'auto';
  if (reader === 'auto') {
    if (!(await findGetfattr())) throw new OverlayError('XATTRS_UNAVAILABLE', upperDir, 'getfattr (Debian package attr) is needed to see opaque directories');
  }
  const raw = await entriesFromDirectory(upperDir, { xattrs: reader, ...(options.owner ? { owner: options.owner } : {}) });
  const markerMtime = options.whiteoutMtime ?? options.sourceDateEpoch ?? 0;
  const marker = (path: string): Entry => ({ path, type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: markerMtime, size: 0 });
  const whiteouts = new Set<string>();
  const out: Entry[] = [];
  for (const entry of raw) {
    if (baseName(entry.path).startsWith(WHITEOUT_PREFIX)) {
      throw new LayerFormatError('INVALID_WHITEOUT', entry.path, 'a name starting with .wh. would read as a whiteout');
    }
    if (overlayXattr(entry, 'redirect')) throw new OverlayError('OVERLAY_UNSUPPORTED', entry.path, 'redirect_dir rename: the upperdir does not hold the directory contents');
    if (overlayXattr(entry, 'metacopy')) throw new OverlayError('OVERLAY_UNSUPPORTED', entry.path, 'metacopy: the upperdir does not hold the file data');
    const isWhiteout =
      (entry.type === 'char' && (entry.devmajor ?? 0) === 0 && (entry.devminor ?? 0) === 0) ||
      (entry.type === 'file' && entry.size === 0 && overlayXattr(entry, 'whiteout') !== undefined) ||
      (entry.type === 'hardlink' && whiteouts.has(entry.linkname ?? ''));
    if (isWhiteout) {
      whiteouts.add(entry.path);
      out.push(marker(whiteoutPath(entry.path)));
      continue;
    }
    const clean = withoutOverlayXattrs(entry);
    out.push(clean);
    const opaque = entry.type === 'dir' ? overlayXattr(entry, 'opaque') : undefined;
    if (opaque && opaque.length === 1 && opaque[0] === 0x79 /* y */) out.push(marker(childPath(entry.path, OPAQUE_WHITEOUT)));
  }
  return out.sort((a, b) => comparePaths(a.path, b.path));
}

function withoutOverlayXattrs(entry: Entry): Entry {
  if (!entry.xattrs) return entry;
  const kept = Object.entries(entry.xattrs).filter(([name]) => !OVERLAY_XATTR.test(name));
  const { xattrs: _dropped, ...rest } = entry;
  return kept.length > 0 ? { ...rest, xattrs: Object.fromEntries(kept) } : rest;
}

/**
 * A layer holding the change an overlayfs upperdir records (see the module
 * notes). The upperdir is walked once, when a getter first needs it; file
 * contents are read from disk on every stream.
 *
 * @example
 * ```ts
 * // after the container (or build step) using this upperdir has stopped:
 * const layer = layerFromOverlayUpper(upperDir, { sourceDateEpoch: 0 });
 * console.log(await layer.diffId());
 * ```
 */
export function layerFromOverlayUpper(upperDir: string, options: OverlayUpperOptions = {}): Layer {
  return layerFromWalk(() => overlayUpperEntries(upperDir, options), options);
}

/** Options of {@link extractOverlayLayer}. */
export interface OverlayLayerWriteOptions extends ExtractOptions {
  /**
   * How whiteouts are written: `'device'` (default), a character device 0/0
   * (Linux lets any user create this one device since 5.8), valid in an
   * upperdir and in lowerdirs; `'xattr'`, an empty file with
   * `<ns>.overlay.whiteout` in a directory marked `<ns>.overlay.opaque=x`,
   * which kernels 6.7 and later read in lowerdirs only.
   */
  whiteoutForm?: 'device' | 'xattr';
  /** `'trusted'` (default; what a mount by root reads) or `'user'` (a mount with `userxattr`). */
  xattrNamespace?: 'trusted' | 'user';
}

/**
 * Writes a layer as an overlayfs layer directory — an upperdir, or one of the
 * lowerdirs of a stack (the inverse of {@link layerFromOverlayUpper}): the
 * layer's files as they are, whiteouts as overlay whiteouts, opaque markers as
 * the opaque xattr. A directory that the layer both whites out and writes
 * (`X` and `.wh.X`) becomes opaque, so the lower `X` stays hidden.
 *
 * The kernel filters whiteouts only in directories that a lower layer also
 * has: a whiteout of a path whose directory is new in every layer shows up in
 * the merged view as a stray device (as it does with Docker); layers made by
 * diffs never hold one.
 *
 * `dir` must be missing or empty. The files arrive with one rename (see
 * {@link extractLayer}); the markers are added afterwards, so if one cannot be
 * made (an {@link OverlayError} `MARKER_NOT_CREATED`) `dir` holds the files
 * without all their markers and should be removed. The markers' xattrs go
 * through a small file in a directory beside `dir` (`.<name>.xattrs-…`),
 * removed before this returns; nothing is written to `$TMPDIR`.
 *
 * @example
 * ```ts
 * for (const [i, layer] of image.layers.entries()) await extractOverlayLayer(layer, `/run/ctr/l${i}`, { xattrNamespace: 'user' });
 * // mount -t overlay overlay -o userxattr,lowerdir=/run/ctr/l2:/run/ctr/l1:/run/ctr/l0,upperdir=…,workdir=… /run/ctr/merged
 * ```
 */
export async function extractOverlayLayer(layer: Layer | AsyncIterable<TarMember>, dir: string, options: OverlayLayerWriteOptions = {}): Promise<ExtractResult> {
  const existing = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  if (existing.length > 0) throw new OverlayError('TARGET_NOT_EMPTY', dir, 'an upper directory is written into a missing or empty directory');
  const result = await extractLayer(layer, dir, options);
  const ns = options.xattrNamespace ?? 'trusted';
  const xattrs = new Map<string, Record<string, Uint8Array>>();
  const mark = (host: string, name: string, value: string) => {
    const set = xattrs.get(host) ?? {};
    set[`${ns}.overlay.${name}`] = new TextEncoder().encode(value);
    xattrs.set(host, set);
  };
  for (const opaque of result.opaques) mark(hostPath(dir, opaque), 'opaque', 'y');
  for (const path of result.whiteouts) {
    const found = await lookup(dir, path);
    if (found.kind === 'found') {
      // Written by this layer too: it replaces the lower path; a directory must also hide the lower one's children.
      if (found.stat.isDirectory()) mark(found.host, 'opaque', 'y');
      continue;
    }
    if (found.kind !== 'missing') continue; // below a file: nothing to hide (a symlink was refused by extractLayer)
    for (const parent of ancestorPaths(path)) await mkdir(hostPath(dir, parent), { recursive: true, mode: 0o755 });
    const host = hostPath(dir, path);
    if (options.whiteoutForm === 'xattr') {
      await writeFile(host, '', { flag: 'wx', mode: 0o600 });
      mark(host, 'whiteout', '');
      const parent = hostPath(dir, path.slice(0, path.lastIndexOf('/')) || '/');
      if (!xattrs.get(parent)?.[`${ns}.overlay.opaque`]) mark(parent, 'opaque', 'x');
    } else {
      const why = await makeSpecial(host, { path, type: 'char', mode: 0, uid: 0, gid: 0, mtime: 0, size: 0, devmajor: 0, devminor: 0 });
      if (why !== null) throw new OverlayError('MARKER_NOT_CREATED', path, `whiteout device: ${why}`);
    }
  }
  // Beside `dir`, never in $TMPDIR: a target under a store keeps its scratch under the store too.
  const scratch = await mkdtemp(join(dirname(dir), `.${basename(dir)}.xattrs-`));
  const failed = await writeXattrs([...xattrs].map(([host, set]) => ({ host, xattrs: set })), scratch).finally(() => rm(scratch, { recursive: true, force: true }));
  if (failed.length > 0) throw new OverlayError('MARKER_NOT_CREATED', failed[0]!.host, `overlay xattr: ${failed[0]!.reason}`);
  return result;
}
