/**
 * An unprivileged user cannot list a directory or read a file whose mode
 * denies its owner; root can. Tests that write generated trees to disk and
 * read them back give those entries the owner's bits when not run as root:
 * directories u+rwx, files u+rw. As root the entries are unchanged.
 */
import type { Entry } from '../../src/layers/entry.js';
import { Tree } from '../../src/layers/tree.js';

const isRoot = process.getuid?.() === 0;

/** `entry` with the owner's bits a non-root reader needs (unchanged as root). */
export function ownerReadable<T extends Entry>(entry: T): T {
  if (isRoot) return entry;
  if (entry.type === 'dir') return { ...entry, mode: entry.mode | 0o700 };
  if (entry.type === 'file') return { ...entry, mode: entry.mode | 0o600 };
  return entry;
}

/**
 * A tree whose directories and files a non-root reader can read back.
 *
 * @example
 * ```ts
 * const [a, b] = [ownerReadableTree(a0), ownerReadableTree(b0)];
 * ```
 */
export function ownerReadableTree(tree: Tree): Tree {
  return isRoot ? tree : Tree.fromEntries([...tree.entries()].map(ownerReadable));
}
