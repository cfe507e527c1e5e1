/**
 * `rename(2)` on the view: the checks of the VFS in Linux's order, then
 * overlayfs's rule for directories with lower content (EXDEV without
 * redirect_dir, or a full copy-up when the view is configured so).
 * @module
 */
import { fsError } from './errors.js';
import { copyMeta, newUpperDir, type UpperDir, type UpperNode } from './inode.js';
import { retag } from './ops-write.js';
import { isReservedName, parseUserPath, type PathLike, type UserPath } from './paths.js';
import { cloneLeaf, type DirRef, type Located, type View } from './view.js';

function resolveNoFollow(view: View, p: UserPath, from: string, to: string): Located {
  try {
    return view.resolve(p.trailingSlash ? { ...p, trailingSlash: false } : p, { follow: false, syscall: 'rename' });
  } catch (err) {
    throw retag(err, 'rename', from, to);
  }
}

export function rename(view: View, oldPath: PathLike, newPath: PathLike): void {
  const from = parseUserPath(oldPath, 'rename');
  const to = parseUserPath(newPath, 'rename');
  const fail = (code: Parameters<typeof fsError>[0]) => fsError(code, 'rename', from.display, to.display);

  const src = resolveNoFollow(view, from, from.display, to.display);
  const dst = resolveNoFollow(view, to, from.display, to.display);
  if (src.dotted || dst.dotted) throw fail('EBUSY');
  if (!src.node) throw fail('ENOENT');
  const isDir = src.node.type === 'dir';
  if (!isDir && (from.trailingSlash || to.trailingSlash)) throw fail('ENOTDIR');
  if (isDir && dst.path.startsWith(src.path + '/')) throw fail('EINVAL');
  if (dst.node && src.path.startsWith(dst.path + '/')) throw fail('ENOTEMPTY');
  // Two names of one inode: nothing to do. But overlayfs without an index gives each name of a
  // lower hardlink its own inode, so with hardlinks 'break' such a rename goes ahead.
  if (dst.node === src.node && (dst.path === src.path || src.node.upper || view.policy.hardlinks === 'preserve')) return;
  if (dst.node) {
    if (isDir && dst.node.type !== 'dir') throw fail('ENOTDIR');
    if (!isDir && dst.node.type === 'dir') throw fail('EISDIR');
  }
  if (isReservedName(dst.name)) throw fail('EINVAL');
  const hasLower = isDir && (!src.node.upper || src.dir!.lower !== undefined);
  if (hasLower && view.policy.renameDir === 'exdev') throw fail('EXDEV');
  if (dst.node?.type === 'dir' && !view.isEmpty(dst.dir!)) throw fail('ENOTEMPTY');

  let node: UpperNode;
  if (!isDir) node = view.copyUpLeaf(src) as UpperNode;
  else if (hasLower) {
    view.promoteLinksUnder(src.path);
    node = copyTree(view, src.dir!);
  } else node = src.node as UpperDir;

  if (dst.node) {
    // With 'preserve', moves the other names of a linked lower file up first, so their count drops.
    if (dst.node.type !== 'dir' && !dst.node.upper && view.policy.hardlinks === 'preserve') view.copyUpLeaf(dst);
    view.removeEntry(view.locateCanonical(dst.path)!);
  }
  view.removeEntry(src, false);
  const parent = view.ensureUpper(dst.parent!);
  parent.children.set(dst.name, node);
  // overlayfs marks a moved directory opaque when its new parent merges a lower one.
  if (node.type === 'dir' && dst.parent!.lower) node.opaque = true;
  node.meta.ctimeMs = view.policy.now();
  view.touchDir(src.parent!);
  view.touchDir(dst.parent!);
}

/** A private upper copy of a merged directory: upper parts moved as they are, lower parts copied. */
function copyTree(view: View, ref: DirRef): UpperDir {
  view.peekUpper(ref); // links may have been promoted into the upper since the lookup
  const top = ref.upper ?? ref.lower!;
  const dir = newUpperDir(copyMeta(top.meta), false, top.ino);
  for (const name of view.names(ref)) {
    const found = view.child(ref, name)!;
    const node = found.node;
    if (node.type === 'dir') dir.children.set(name, copyTree(view, view.childRef(ref, name, found)));
    else dir.children.set(name, node.upper ? node : cloneLeaf(node, node.ino));
  }
  return dir;
}
