/**
 * The copy itself, with the semantics of BuildKit's copier (fsutil `copy`):
 * destination rules, directory contents, merging into existing directories,
 * ownership, `--chmod`, timestamps, hardlinks within a source.
 * @module
 */
import { bytesSource, type Entry } from '../../layers/entry.js';
import { BuildError } from '../errors.js';
import type { ChmodSpec } from './chmod.js';
import type { CopyItem } from './sources.js';
import { childPath, dirOf, type CopyTarget, type CreatedDirAttrs } from './target.js';

/** How copied objects are written. */
export interface CopyAttrs {
  /** `--chown`: every copied object and every created directory gets it; otherwise 0:0. */
  owner?: { uid: number; gid: number };
  chmod?: ChmodSpec;
  /** Mtime of the directories the copy creates (SOURCE_DATE_EPOCH, else 0). */
  createdMtime: number;
}

/** Attributes of directories created on the way to the destination. */
export function createdDirAttrs(attrs: CopyAttrs): CreatedDirAttrs {
  return {
    mode: attrs.chmod?.octal ?? 0o755,
    uid: attrs.owner?.uid ?? 0,
    gid: attrs.owner?.gid ?? 0,
    mtime: attrs.createdMtime,
  };
}

/**
 * Prepares the destination as the copier does before copying anything: a
 * destination ending in `/` (or the root) is created as a directory.
 * Returns the destination resolved through existing symlinks.
 */
export function prepareDestination(target: CopyTarget, dest: string, attrs: CopyAttrs): string {
  const clean = cleanDest(dest);
  if (dest.endsWith('/') || clean === '/') {
    if (!target.mkdirAll(clean, createdDirAttrs(attrs))) {
      throw new BuildError('COPY_CONFLICT', `cannot copy to ${dest}: a non-directory is in the way`, { path: dest });
    }
  }
  return target.resolve(clean, true);
}

/** A destination path without a trailing slash or `.` components. */
export function cleanDest(dest: string): string {
  const parts: string[] = [];
  for (const part of dest.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return '/' + parts.join('/');
}

/**
 * Copies one item to `dest` (already resolved): a file into an existing
 * directory keeps its name; a directory is copied as its contents, into
 * `dest` (created if missing).
 */
export async function copyItem(target: CopyTarget, item: CopyItem, dest: string, attrs: CopyAttrs): Promise<void> {
  const destEntry = target.stat(dest);
  const srcIsDir = item.type === 'dir';
  let root = dest;
  if (!srcIsDir && destEntry?.type === 'dir') root = childPath(dest, item.name);
  const parent = srcIsDir && !destEntry ? root : dirOf(root);
  if (!target.mkdirAll(parent, createdDirAttrs(attrs))) {
    throw new BuildError('COPY_CONFLICT', `cannot copy to non-directory: ${parent}`, { path: parent });
  }
  // Where each copied file went, for later names of it (a path pair per file, no entry kept).
  const linkTargets = new Map<string, string>();
  for await (const { rel, entry } of item.entries()) {
    const path = rel === '' ? root : destPath(root, rel);
    const existing = target.lstat(path);
    if (entry.type === 'dir') {
      if (existing && existing.type !== 'dir') {
        throw new BuildError('COPY_CONFLICT', `cannot copy to non-directory: ${path}`, { path });
      }
      if (existing && rel === '') {
        // The copy's own root merges into an existing directory: its mode and owner stay.
        target.put({ ...existing, path, mtime: entry.mtime });
      } else {
        target.put(copiedEntry(entry, path, attrs));
      }
      continue;
    }
    if (existing?.type === 'dir') {
      throw new BuildError('COPY_CONFLICT', `cannot replace to directory ${path} with file`, { path });
    }
    if (entry.type === 'hardlink') {
      const first = linkTargets.get(entry.linkname ?? '');
      if (first !== undefined) {
        target.put({ ...copiedEntry(entry, path, attrs), type: 'hardlink', size: 0, linkname: first, content: undefined });
        continue;
      }
      // Sources link only to a name they gave earlier as a file (an excluded first name passes the content on).
      throw new BuildError('COPY_SOURCE_NOT_FOUND', `hardlink ${entry.path} points to ${entry.linkname}, which is not copied`, { path: entry.path });
    }
    target.put(copiedEntry(entry, path, attrs));
    if (entry.type === 'file') linkTargets.set(entry.path, path);
  }
}

/**
 * `rel` below `root` as one flat string: the copied entry keeps its path for
 * as long as the layer is in use, and a concatenation would keep its pieces
 * (the source's relative path among them) alive with it.
 */
function destPath(root: string, rel: string): string {
  return [root === '/' ? '' : root, rel].join('/');
}

/** A source entry as written at `path`: owner and mode per the COPY flags, mtime kept. */
function copiedEntry(entry: Entry, path: string, attrs: CopyAttrs): Entry {
  const out: Entry = { ...entry, path };
  if (attrs.owner) {
    out.uid = attrs.owner.uid;
    out.gid = attrs.owner.gid;
  }
  if (attrs.chmod && entry.type !== 'symlink') out.mode = attrs.chmod.apply(entry.mode, entry.type === 'dir');
  // Xattrs travel with the file; the overlay marker never does.
  if (out.xattrs && Object.keys(out.xattrs).some((k) => k.endsWith('overlay.opaque'))) {
    out.xattrs = Object.fromEntries(Object.entries(out.xattrs).filter(([key]) => !key.endsWith('overlay.opaque')));
  }
  return out;
}

/** A heredoc source (`COPY <<EOF /dst`): a 0644 file named after the heredoc. */
export function heredocItem(name: string, content: string, mtime: number): CopyItem {
  const bytes = new TextEncoder().encode(content);
  const entry: Entry = { path: '/' + name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: bytes.byteLength, content: bytesSource(bytes) };
  return {
    source: `<<${name}`,
    path: '/' + name,
    name,
    type: 'file',
    async *entries() {
      yield { rel: '', entry };
    },
  };
}
