/**
 * Writes outer archives (OCI layout tars, docker-archives) deterministically
 * with the layers module's tar writer: members in path order, mode
 * 0644/0755, owner 0:0, mtime 0, no user names. The archive appears at its
 * path only once complete.
 * @module
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Entry } from '../layers/entry.js';
import { writeTar } from '../layers/tar/write.js';
import { fsyncDirectory, temporaryPath } from './fs-atomic.js';

/** One member to write. */
export type ArchiveMember =
  | { name: string; type: 'dir' }
  | { name: string; type: 'file'; size: number; content: Uint8Array | (() => AsyncIterable<Uint8Array>) };

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** The member as an entry of the layers' tar writer: fixed owner, modes and time. */
function entryOf(member: ArchiveMember): Entry {
  const path = `/${member.name}`;
  if (member.type === 'dir') return { path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 };
  const { content } = member;
  return {
    path,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: member.size,
    content: { size: member.size, open: () => (content instanceof Uint8Array ? once(content) : content()) },
  };
}

async function* entriesOf(members: Iterable<ArchiveMember> | AsyncIterable<ArchiveMember>): AsyncGenerator<Entry> {
  for await (const member of members) yield entryOf(member);
}

/**
 * Writes members into a tar at `path` (temporary file, fsync, rename). If a
 * member's content fails (a digest check inside it, a missing blob, fewer or
 * more bytes than its size), nothing is left at `path`.
 */
export async function writeArchive(path: string, members: Iterable<ArchiveMember> | AsyncIterable<ArchiveMember>): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = temporaryPath(dir, 'archive');
  try {
    // The layers' tar writer: the one that writes layers writes archives too (members in path order).
    await pipeline(Readable.from(writeTar(entriesOf(members)), { objectMode: false }), createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
    await syncFile(tmp);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDirectory(dir);
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
