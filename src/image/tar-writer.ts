/**
 * Writes outer archives (OCI layout tars, docker-archives) deterministically:
 * members in the order given, mode 0644/0755, owner 0:0, mtime 0, no user
 * names. The archive appears at its path only once complete.
 * @module
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tarStream from 'tar-stream';
import { fsyncDirectory, temporaryPath } from './fs-atomic.js';

/** One member to write. */
export type ArchiveMember =
  | { name: string; type: 'dir' }
  | { name: string; type: 'file'; size: number; content: Uint8Array | (() => AsyncIterable<Uint8Array>) };

const EPOCH = new Date(0);

async function writeMember(pack: tarStream.Pack, member: ArchiveMember): Promise<void> {
  if (member.type === 'dir') {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: `${member.name}/`, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: EPOCH, uname: '', gname: '' }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    return;
  }
  const header = { name: member.name, type: 'file' as const, size: member.size, mode: 0o644, uid: 0, gid: 0, mtime: EPOCH, uname: '', gname: '' };
  const entry = pack.entry(header);
  const source = member.content instanceof Uint8Array ? [member.content] : member.content();
  try {
    await pipeline(Readable.from(source, { objectMode: false }), entry);
  } catch (err) {
    entry.destroy(err as Error);
    throw err;
  }
}

/**
 * Writes members into a tar at `path` (temporary file, fsync, rename). If a
 * member's content fails (a digest check inside it, a missing blob), nothing
 * is left at `path`.
 */
export async function writeArchive(path: string, members: Iterable<ArchiveMember> | AsyncIterable<ArchiveMember>): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = temporaryPath(dir, 'archive');
  const pack = tarStream.pack();
  const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
  const sink = pipeline(pack, out);
  try {
    try {
      for await (const member of members) await writeMember(pack, member);
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
      await sink.catch(() => {});
      throw err;
    }
    await sink;
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
