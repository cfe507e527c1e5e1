import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { entriesFromDirectory } from '../../src/layers/from-directory.js';
import { Tree } from '../../src/layers/tree.js';
import { snapshotTree, type TreeSnapshotRow } from '../../src/testing/trees.js';

/** A fresh temporary directory; removed by the returned cleanup. */
export async function tempDir(prefix = 'layerkit-extract-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** What a directory on disk holds, as a tree snapshot (the directory itself excluded). */
export async function snapshotDir(dir: string, options: { xattrs?: boolean } = {}): Promise<TreeSnapshotRow[]> {
  const entries = await entriesFromDirectory(dir, { xattrs: options.xattrs ? 'auto' : false });
  const rows = await snapshotTree(Tree.fromEntries(entries));
  return rows.filter((r) => r.path !== '/');
}

/** A tree snapshot without the root row (root attributes are unspecified by OCI). */
export async function snapshotWithoutRoot(tree: Tree): Promise<TreeSnapshotRow[]> {
  return (await snapshotTree(tree)).filter((r) => r.path !== '/');
}
