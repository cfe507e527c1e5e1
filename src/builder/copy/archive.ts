/**
 * ADD's archive extraction: a local source that is a tar (plain or gzip —
 * the compressions Node reads natively; zstd where node:zlib has it) is
 * unpacked into the destination, as BuildKit does with go-archive's
 * `Untar`: entries keep the archive's modes, owners and times (owners
 * replaced by `--chown`), existing directories are merged, anything else in
 * the way is replaced, missing parents are created 0755 root-owned.
 * bzip2 and xz archives are recognised and refused with a typed error:
 * Node has no decoder for them.
 * @module
 */
import { BodySpool } from '../../layers/body-spool.js';
import { cleanPath, type ContentSource, type Entry } from '../../layers/entry.js';
import { UnsafePathError } from '../../layers/errors.js';
import { readTar } from '../../layers/tar/read.js';
import { zstdSupported } from '../../layers/compress/index.js';
import { BuildError } from '../errors.js';
import type { CopyAttrs } from './copy.js';
import { childPath, dirOf, type CopyTarget } from './target.js';

/** What the first bytes of a file say it is. */
export type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

/** Reads up to `n` bytes from the start of a content source. */
async function head(source: ContentSource, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(Math.min(n, source.size));
  let offset = 0;
  for await (const chunk of source.open()) {
    const take = Math.min(chunk.byteLength, out.byteLength - offset);
    out.set(chunk.subarray(0, take), offset);
    offset += take;
    if (offset >= out.byteLength) break;
  }
  return out.subarray(0, offset);
}

function tarChecksumOk(block: Uint8Array): boolean {
  if (block.byteLength < 512) return false;
  let stored = 0;
  const field = new TextDecoder().decode(block.subarray(148, 156)).replace(/\0/g, ' ').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  stored = Number.parseInt(field, 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === stored;
}

/** Sniffs a file: a compression magic, a tar header, or neither. */
export async function sniffArchive(source: ContentSource): Promise<ArchiveKind> {
  if (source.size === 0) return 'none';
  const bytes = await head(source, 512);
  const b = (i: number) => bytes[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return 'bzip2';
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  return tarChecksumOk(bytes) ? 'tar' : 'none';
}

/**
 * True when ADD should unpack this file. A gzip/zstd stream counts only if
 * a tar header is inside (as go-archive's check reads one header).
 *
 * @throws {@link BuildError} `ADD_INVALID_ARCHIVE` for bzip2/xz (no decoder).
 */
export async function isExtractable(source: ContentSource, name: string): Promise<boolean> {
  const kind = await sniffArchive(source);
  if (kind === 'none') return false;
  if (kind === 'tar') return true;
  if (kind === 'bzip2' || kind === 'xz' || (kind === 'zstd' && !zstdSupported)) {
    throw new BuildError(
      'ADD_INVALID_ARCHIVE',
      `${name} is ${kind}-compressed; layerkit extracts plain, gzip${zstdSupported ? ' and zstd' : ''} tar archives only ` +
        `(use ADD --unpack=false to copy it as a file, or decompress it first)`,
      { path: name, reason: `${kind} is not supported` },
    );
  }
  try {
    for await (const member of readTar(source.open())) {
      void member;
      return true;
    }
    return false;
  } catch (err) {
    // A header was read, so this is a tar: a member that may not be extracted fails the ADD (as a plain tar's
    // does, naming archive and member) instead of the archive being copied as a file.
    if (err instanceof UnsafePathError) return true;
    return false;
  }
}

/**
 * Unpacks `source` into `dest` (a resolved directory path of `target`,
 * created here if missing).
 *
 * @throws {@link BuildError} `ADD_INVALID_ARCHIVE` for unsafe or unsupported members.
 */
export async function extractArchive(
  target: CopyTarget,
  source: ContentSource,
  name: string,
  dest: string,
  attrs: CopyAttrs,
  spillDir: string,
): Promise<void> {
  const rootDirs = { mode: 0o755, uid: attrs.owner?.uid ?? 0, gid: attrs.owner?.gid ?? 0, mtime: attrs.createdMtime };
  if (!target.mkdirAll(dest, rootDirs)) throw new BuildError('COPY_CONFLICT', `cannot extract ${name} to non-directory: ${dest}`, { path: dest });
  const root = target.resolve(dest, true);
  const bodies = new BodySpool(spillDir, 32 * 2 ** 20);
  const parents = { mode: 0o755, uid: 0, gid: 0, mtime: attrs.createdMtime };
  const bad = (member: string, reason: string) =>
    new BuildError('ADD_INVALID_ARCHIVE', `cannot extract ${name}: ${member}: ${reason}`, { path: name, reason });
  const links: Array<{ member: string; entry: Entry }> = [];
  try {
    for await (const { entry, name: memberName, body } of readTar(source.open())) {
      if (entry.path === '/') {
        const existing = target.lstat(root);
        if (existing) target.put({ ...existing, mode: entry.mode, mtime: entry.mtime, uid: attrs.owner?.uid ?? entry.uid, gid: attrs.owner?.gid ?? entry.gid });
        continue;
      }
      const base = entry.path.slice(entry.path.lastIndexOf('/') + 1);
      if (base.startsWith('.wh.')) throw bad(memberName, 'whiteout names cannot be extracted into an image');
      const path = root === '/' ? entry.path : root + entry.path;
      // Parents inside the destination: real directories only, never through a symlink.
      for (let dir = dirOf(path); dir !== root && dir !== '/'; dir = dirOf(dir)) {
        const existing = target.lstat(dir);
        if (existing && existing.type !== 'dir') throw bad(memberName, `${dir} is not a directory`);
      }
      if (!target.mkdirAll(dirOf(path), parents)) throw bad(memberName, 'parent is not a directory');
      const existing = target.lstat(path);
      const out: Entry = { ...entry, path };
      if (attrs.owner) {
        out.uid = attrs.owner.uid;
        out.gid = attrs.owner.gid;
      }
      if (entry.type === 'dir' && existing?.type === 'dir') {
        target.put(out);
        continue;
      }
      if (entry.type === 'hardlink') {
        // Linked once every member is in place: some writers put a link before its target.
        out.linkname = root === '/' ? cleanPath(entry.linkname ?? '') : root + cleanPath(entry.linkname ?? '');
        links.push({ member: memberName, entry: out });
        continue;
      }
      if (entry.type === 'file') {
        out.content = await bodies.keep(body, entry.size);
      }
      target.put(out);
    }
    for (const { member, entry } of links) {
      const to = target.lstat(entry.linkname!);
      if (!to || to.type === 'dir' || to.type === 'hardlink') throw bad(member, `hardlink target ${entry.linkname} is missing`);
      target.put(entry);
    }
  } catch (err) {
    if (err instanceof BuildError) throw err;
    throw new BuildError('ADD_INVALID_ARCHIVE', `cannot extract ${name}: ${(err as Error).message}`, { path: name, reason: (err as Error).message }, { cause: err });
  } finally {
    await bodies.seal();
  }
}

export { childPath };
