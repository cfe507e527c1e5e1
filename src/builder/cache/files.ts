/**
 * Listing what the cache directory holds: records (with their last use and
 * size) and blob files. Unreadable records are reported as absent.
 * @module
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type Digest } from '../../digest.js';
import { decodeRecord, type CacheRecord } from './records.js';

/** A record file as listed. */
export interface ListedRecord {
  path: string;
  key: Digest;
  record: CacheRecord;
  /** Last use (the file's mtime). */
  mtimeMs: number;
  bytes: number;
}

/** The layer blob a record uses, if any. */
export function blobOf(record: CacheRecord): Digest | undefined {
  return record.kind === 'step' && record.layer ? record.layer.digest : undefined;
}

/** Reads one record file; anything but a valid record of `key` is undefined. */
export async function readRecord(path: string, key: string): Promise<CacheRecord | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return decodeRecord(JSON.parse(text), key)?.record;
  } catch {
    return undefined;
  }
}

/** Every record under `<root>/records`; with `clean`, unreadable record files are deleted. */
export async function listRecords(root: string, clean = false): Promise<ListedRecord[]> {
  const out: ListedRecord[] = [];
  const dir = join(root, 'records');
  for (const shard of await readdir(dir).catch(() => [] as string[])) {
    for (const name of await readdir(join(dir, shard)).catch(() => [] as string[])) {
      const path = join(dir, shard, name);
      const key = `sha256:${name.replace(/\.json$/, '')}`;
      const [info, record] = await Promise.all([stat(path).catch(() => undefined), isDigest(key) ? readRecord(path, key) : undefined]);
      if (!info) continue;
      if (!record) {
        if (clean) await rm(path, { force: true });
        continue;
      }
      out.push({ path, key: key as Digest, record, mtimeMs: info.mtimeMs, bytes: info.size });
    }
  }
  return out;
}

/** Every blob file under `<root>/blobs/sha256`. */
export async function listBlobFiles(root: string): Promise<Array<{ digest: Digest; path: string }>> {
  const dir = join(root, 'blobs', 'sha256');
  return (await readdir(dir).catch(() => [] as string[]))
    .filter((hex) => /^[0-9a-f]{64}$/.test(hex))
    .map((hex) => ({ digest: `sha256:${hex}` as Digest, path: join(dir, hex) }));
}
