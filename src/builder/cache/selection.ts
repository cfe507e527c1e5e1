/**
 * Content checksums of what a `COPY --from` (or `RUN --mount=type=bind,from=`)
 * selects in a stage or image: the same facts the build context's checksum
 * covers — names relative to each source, types, permission bits, owners,
 * sizes, link targets, device numbers, BuildKit's xattr selection and the
 * SHA-256 of every file's bytes — and never timestamps. Two stages that hold
 * the same selected files give the same checksum however they were built:
 * that is what lets a rebuilt stage with unchanged output keep later steps
 * cached (BuildKit's content-based cache keys).
 * @module
 */
import { createSha256, sha256Stream, type Digest } from '../../digest.js';
import type { Entry } from '../../layers/entry.js';
import type { CopyItem } from '../copy/sources.js';

const VERSION_LINE = 'layerkit.cache.selection/v1\n';

/**
 * The checksum of a list of copy items (see the module notes). The order of
 * items counts (a later source overwrites an earlier one); `withPaths` adds
 * each item's matched path, for copies that keep it (`COPY --parents`).
 *
 * @example
 * ```ts
 * const items = await rootfsSourceFs(stack, 'stage build').select(['/out']);
 * const sum = await checksumItems(items);
 * ```
 */
export async function checksumItems(items: readonly CopyItem[], options: { withPaths?: boolean; signal?: AbortSignal } = {}): Promise<Digest> {
  const hasher = createSha256();
  const encoder = new TextEncoder();
  const line = (record: unknown[]) => hasher.update(encoder.encode(JSON.stringify(record) + '\n'));
  hasher.update(encoder.encode(VERSION_LINE));
  for (const item of items) {
    line(['source', item.type === 'dir' ? '' : item.name, item.type, options.withPaths ? item.path : '']);
    for await (const { rel, entry } of item.entries()) {
      options.signal?.throwIfAborted();
      line(await entryRecord(rel, entry));
    }
  }
  return hasher.digest();
}

async function entryRecord(rel: string, entry: Entry): Promise<unknown[]> {
  let digest = '';
  if (entry.type === 'file') digest = entry.content && entry.size > 0 ? (await sha256Stream(entry.content.open())).digest : EMPTY;
  return [
    'entry',
    rel,
    entry.type,
    entry.mode & 0o7777,
    entry.uid,
    entry.gid,
    entry.type === 'file' ? entry.size : 0,
    entry.type === 'symlink' || entry.type === 'hardlink' ? (entry.linkname ?? '') : '',
    entry.devmajor ?? 0,
    entry.devminor ?? 0,
    hashedXattrs(entry.xattrs),
    digest,
  ];
}

const EMPTY = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** BuildKit's contenthash keeps `security.capability` but no other `security.*`, and no `system.*`. */
function hashedXattrs(xattrs: Entry['xattrs']): [string, string][] {
  if (!xattrs) return [];
  return Object.keys(xattrs)
    .filter((k) => k === 'security.capability' || (!k.startsWith('security.') && !k.startsWith('system.')))
    .sort()
    .map((k) => [k, Buffer.from(xattrs[k]!).toString('hex')]);
}
