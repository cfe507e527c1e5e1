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
import { LayerFormatError } from './changes/errors.js';
import { run } from './changes/disk.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX, whiteoutPath } from './changes/whiteout.js';
import { comparePaths, type Entry } from './entry.js';
import { entriesFromDirectory, type XattrReader } from './from-directory.js';
import { layerFromEntries, type LayerFromEntriesOptions } from './from-entries.js';
import type { Layer } from './layer.js';
import { baseName, childPath } from './path.js';

/**
 * The upperdir uses an overlay feature that makes it an incomplete record of
 * the change (`redirect_dir`, `metacopy`), or xattrs cannot be read.
 *
 * @example
 * ```ts
 * if (err instanceof OverlayError && err.code === 'OVERLAY_UNSUPPORTED') fallBackToTreeDiff();
 * ```
 */
export class OverlayError extends LayerkitError<'OVERLAY_UNSUPPORTED' | 'XATTRS_UNAVAILABLE', { path: string; reason: string }> {
  constructor(code: 'OVERLAY_UNSUPPORTED' | 'XATTRS_UNAVAILABLE', path: string, reason: string) {
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
    const probe = await run('getfattr', ['--version']);
    if (probe.missing) throw new OverlayError('XATTRS_UNAVAILABLE', upperDir, 'getfattr (Debian package attr) is needed to see opaque directories');
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
  let walk: Promise<Entry[]> | undefined;
  return layerFromEntries(() => {
    walk ??= overlayUpperEntries(upperDir, options);
    return (async function* () {
      yield* await walk!;
    })();
  }, options);
}
