/**
 * Applying a layer to a tree (OCI layer.md "Applying Changesets"), in memory.
 *
 * The layer is read whole into a plan first, so the result does not depend on
 * the order of its entries:
 *
 * 1. **Hide lower paths.** Opaque markers remove every child the directory had
 *    below; whiteouts remove their path and its subtree. Only lower paths are
 *    affected, because nothing of this layer is in the tree yet: a layer with
 *    both `X` and `.wh.X` keeps its own `X` (whatever the order), and an
 *    opaque marker never hides entries of its own layer (notes §1). A
 *    whiteout of a path that does not exist is harmless; one whose parent is
 *    a symlink the layer does not replace is an {@link UnsafePathError}.
 * 2. **Write entries**, parents first: directory onto directory replaces the
 *    attributes and keeps the children; anything else removes the old path and
 *    creates the new one. Missing parents are created with
 *    {@link IMPLICIT_DIRECTORY} metadata; an entry below a symlink is refused.
 * 3. **Link hardlinks.** A target written by this layer links to that entry; a
 *    target the layer does not write links to the lower tree's file *as it was
 *    before the layer* (so a layer may link to a lower file and white it out).
 * @module
 */
import { createSha256 } from '../../digest.js';
import { concatBytes } from '../bytes.js';
import { bytesSource, type Entry } from '../entry.js';
import type { Layer } from '../layer.js';
import { InvalidEntryError, UnsafePathError } from '../errors.js';
import { ancestorPaths, type NormalizePathOptions } from '../path.js';
import { readTar, type TarMember } from '../tar/index.js';
import { IMPLICIT_DIRECTORY, rememberContentDigest, sortedChildren, type Tree, type TreeNode } from '../tree.js';
import { LayerFormatError } from './errors.js';
import { type LayerPlan, PlanBuilder } from './plan.js';

/** Options for {@link apply} and {@link applyEntries}. */
export interface ApplyOptions {
  /** What a name with leading slashes means: read from the root (`'strip'`, default) or refused (`'reject'`). */
  absoluteNames?: NormalizePathOptions['absolute'];
}

/**
 * Applies a changeset given as entries (whiteouts included, as
 * {@link changesToEntries} makes them) to a copy of `tree`.
 *
 * @throws {@link LayerFormatError}, {@link UnsafePathError} for layers that
 *   cannot be applied; `tree` is never modified.
 * @example
 * ```ts
 * const after = applyEntries(before, changesToEntries(diff(before, target), target));
 * ```
 */
export function applyEntries(tree: Tree, entries: Iterable<Entry>, options: ApplyOptions = {}): Tree {
  const builder = new PlanBuilder({ absolute: options.absoluteNames ?? 'strip' });
  for (const entry of entries) builder.add(entry);
  return applyPlan(tree, builder.finish());
}

/**
 * Applies a layer (or a stream of tar members) to a copy of `tree`. File
 * contents are read into memory, hashed as they stream by; the returned tree
 * therefore compares exactly in {@link diff}.
 *
 * @throws {@link LayerFormatError}, {@link UnsafePathError}, or the tar
 *   reader's error for a malformed archive; `tree` is never modified.
 * @example
 * ```ts
 * let rootfs = Tree.empty();
 * for (const layer of image.layers) rootfs = await apply(rootfs, layer);
 * ```
 */
export async function apply(tree: Tree, layer: Layer | AsyncIterable<TarMember>, options: ApplyOptions = {}): Promise<Tree> {
  const builder = new PlanBuilder({ absolute: options.absoluteNames ?? 'strip' });
  for await (const member of isLayer(layer) ? readTar(layer.uncompressed()) : layer) {
    builder.add(await bufferMember(member), member.name);
  }
  return applyPlan(tree, builder.finish());
}

/** @internal True when `value` is a {@link Layer} rather than a member stream. */
export function isLayer(value: Layer | AsyncIterable<TarMember>): value is Layer {
  return typeof (value as Layer).uncompressed === 'function';
}

async function bufferMember(member: TarMember): Promise<Entry> {
  const entry = member.entry;
  if (entry.type !== 'file') {
    for await (const _chunk of member.body) {
      // drained: only regular files carry content
    }
    return entry;
  }
  const chunks: Uint8Array[] = [];
  const hash = createSha256();
  let size = 0;
  for await (const chunk of member.body) {
    chunks.push(chunk);
    hash.update(chunk);
    size += chunk.byteLength;
  }
  if (size === 0) return { ...entry, size: 0, content: undefined };
  const bytes = chunks.length === 1 ? chunks[0]! : concatBytes(chunks, size);
  const content = bytesSource(bytes);
  rememberContentDigest(content, hash.digest());
  return { ...entry, size, content };
}

/** @internal Applies a finished plan to a copy of `lower`. */
export function applyPlan(lower: Tree, plan: LayerPlan): Tree {
  const tree = lower.clone();
  // Resolved before anything changes: the copy still equals the lower tree.
  const sources = resolveHardlinks(tree, plan);
  // 1. hide lower paths
  for (const dir of plan.opaques) {
    const node = lowerNode(tree, `${dir === '/' ? '' : dir}/.wh..wh..opq`, plan);
    if (node?.children) for (const child of [...sortedChildren(node)]) tree.remove(child.entry.path);
  }
  for (const path of plan.whiteouts) {
    if (lowerNode(tree, path, plan)) tree.remove(path);
  }
  // 2. write entries, parents first
  for (const entry of plan.entries) tree.put(entry);
  for (const dir of plan.opaques) {
    const existing = tree.get(dir);
    if (!existing) tree.put({ ...IMPLICIT_DIRECTORY, path: dir });
    else if (existing.type === 'symlink') throw new UnsafePathError(dir, 'opaque marker on a symlink');
    else if (existing.type !== 'dir') throw new LayerFormatError('NOT_A_DIRECTORY', dir, `opaque marker below a ${existing.type}`);
  }
  // 3. hardlinks
  for (const link of plan.hardlinks) {
    const source = sources.get(link.path)!;
    tree.linkNode(link.path, source === 'layer' ? tree.node(layerTarget(link, plan))! : source);
  }
  return tree;
}

/**
 * The lower node a whiteout (or opaque marker) at `path` refers to, or
 * undefined when there is none. Walks the ancestors without following
 * symlinks: a symlinked ancestor the layer leaves in place is refused, one the
 * layer replaces has nothing below it to hide.
 */
function lowerNode(tree: Tree, path: string, plan: LayerPlan): TreeNode | undefined {
  for (const dir of ancestorPaths(path)) {
    const node = tree.node(dir);
    if (!node) return undefined;
    if (node.entry.type === 'symlink') {
      if (plan.written.has(dir)) return undefined;
      throw new UnsafePathError(path, `whiteout below symlink ${dir}`);
    }
    if (node.entry.type !== 'dir') return undefined;
  }
  return tree.node(path.endsWith('/.wh..wh..opq') ? path.slice(0, -'/.wh..wh..opq'.length) || '/' : path);
}

/** Follows a chain of same-layer hardlinks to the non-hardlink entry it ends at. */
function layerTarget(link: Entry, plan: LayerPlan): string {
  let target = link.linkname!;
  for (let hops = 0; hops <= plan.hardlinks.length; hops++) {
    const next = plan.written.get(target);
    if (!next || next.type !== 'hardlink') return target;
    target = next.linkname!;
  }
  throw new InvalidEntryError(link.path, 'hardlinks form a cycle');
}

/** For each hardlink: `'layer'` when its target is written by the layer, else the lower tree's node. */
function resolveHardlinks(lower: Tree, plan: LayerPlan): Map<string, 'layer' | TreeNode> {
  const out = new Map<string, 'layer' | TreeNode>();
  for (const link of plan.hardlinks) {
    const target = layerTarget(link, plan);
    const inLayer = plan.written.get(target);
    if (inLayer) {
      if (inLayer.type === 'dir') throw new LayerFormatError('HARDLINK_TARGET_MISSING', link.path, `hardlink target ${target} is a directory`);
      out.set(link.path, 'layer');
      continue;
    }
    const node = lower.node(target);
    if (!node || node.entry.type === 'dir') {
      throw new LayerFormatError('HARDLINK_TARGET_MISSING', link.path, `hardlink target ${target} is ${node ? 'a directory' : 'in neither this layer nor the tree below'}`);
    }
    out.set(link.path, node);
  }
  return out;
}
