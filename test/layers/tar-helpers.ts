// Shared helpers of the layer tests (not a test file itself).
import { createHash } from 'node:crypto';
import type { Entry } from '../../src/layers/entry.js';
import { readTar } from '../../src/layers/tar/read.js';

export async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  return Buffer.concat(parts);
}

export async function* streamOf(...chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
}

/** Feeds `bytes` in pieces of the given sizes (cycled), to cross block boundaries anywhere. */
export async function* rechunk(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const n = Math.max(1, sizes[i++ % sizes.length]!);
    yield bytes.slice(at, at + n);
    at += n;
  }
}

export async function sha(source: AsyncIterable<Uint8Array> | undefined): Promise<string> {
  const h = createHash('sha256');
  if (source) for await (const c of source) h.update(c);
  return h.digest('hex');
}

/** An entry as the reader reports it: what survives a tar round trip, contents as sha256. */
export interface Comparable {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, string>;
  content: string;
}

function xattrsOf(entry: Entry): Record<string, string> | undefined {
  if (!entry.xattrs || Object.keys(entry.xattrs).length === 0) return undefined;
  return Object.fromEntries(Object.entries(entry.xattrs).map(([k, v]) => [k, Buffer.from(v).toString('hex')]).sort());
}

export async function comparableOf(entry: Entry, body?: AsyncIterable<Uint8Array>, epoch?: number): Promise<Comparable> {
  const out: Comparable = {
    path: entry.path,
    type: entry.type,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    mtime: epoch !== undefined && entry.mtime > epoch ? epoch : entry.mtime,
    size: entry.type === 'file' ? entry.size : 0,
    content: await sha(body ?? entry.content?.open()),
  };
  if (entry.type === 'symlink' || entry.type === 'hardlink') out.linkname = entry.linkname!;
  if (entry.type === 'char' || entry.type === 'block') {
    out.devmajor = entry.devmajor ?? 0;
    out.devminor = entry.devminor ?? 0;
  }
  const x = xattrsOf(entry);
  if (x) out.xattrs = x;
  return out;
}

export async function readAll(source: AsyncIterable<Uint8Array>): Promise<Array<Comparable & { name: string }>> {
  const out: Array<Comparable & { name: string }> = [];
  for await (const m of readTar(source)) out.push({ name: m.name, ...(await comparableOf(m.entry, m.body)) });
  return out;
}

/** Parses raw 512-byte headers of a tar we wrote, for checks of the canonical form. */
export function rawHeaders(tar: Uint8Array): Array<{ offset: number; name: string; typeflag: string; size: number; uname: string; gname: string; magic: string }> {
  const out = [];
  let at = 0;
  while (at + 512 <= tar.length) {
    const block = tar.subarray(at, at + 512);
    if (block.every((b) => b === 0)) break;
    const text = (s: number, n: number) => Buffer.from(block.subarray(s, s + n)).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(text(124, 12) || '0', 8);
    out.push({ offset: at, name: text(0, 100), typeflag: text(156, 1), size, uname: text(265, 32), gname: text(297, 32), magic: Buffer.from(block.subarray(257, 265)).toString('latin1') });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}
