import { bytesSource, type Entry } from '../../src/layers/entry.js';
import type { TarMember } from '../../src/layers/tar/read.js';

const enc = new TextEncoder();

export const dir = (path: string, mode = 0o755, mtime = 0): Entry => ({ path, type: 'dir', mode, uid: 0, gid: 0, mtime, size: 0 });
export const file = (path: string, text = '', mode = 0o644, mtime = 0): Entry => {
  const bytes = enc.encode(text);
  return { path, type: 'file', mode, uid: 0, gid: 0, mtime, size: bytes.length, ...(bytes.length ? { content: bytesSource(bytes) } : {}) };
};
export const symlink = (path: string, target: string): Entry => ({ path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: target });
export const hardlink = (path: string, target: string): Entry => ({ path, type: 'hardlink', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, linkname: target });
export const whiteout = (path: string): Entry => file(path);

/** Tar members in exactly the given order (a layer as some other writer might order it). */
export async function* membersOf(entries: readonly Entry[]): AsyncIterable<TarMember> {
  for (const e of entries) {
    const { content, ...entry } = e;
    const name = e.path === '/' ? './' : e.path.startsWith('/') ? e.path.slice(1) + (e.type === 'dir' ? '/' : '') : e.path;
    yield { entry, name, body: content ? content.open() : (async function* () {})() };
  }
}

/** Every permutation index pattern fast-check can shrink: a random permutation of `list`. */
export function permute<T>(list: readonly T[], keys: readonly number[]): T[] {
  return list
    .map((item, i) => ({ item, key: keys[i % Math.max(keys.length, 1)] ?? i, i }))
    .sort((a, b) => a.key - b.key || a.i - b.i)
    .map((x) => x.item);
}
