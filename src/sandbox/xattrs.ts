/**
 * Extended attributes of a RUN step's files, read with the layers module's
 * `getfattr` reader (Node has no xattr API): of a list of paths, or of a
 * whole tree (`-R`). `security.selinux` and `system.*` (host labels, ACLs)
 * are left out, as the layers module does.
 * @module
 */
import { getfattrReader, isHostXattr, readTreeXattrs as readTree, type XattrMap } from '../layers/xattrs.js';

export type { XattrMap } from '../layers/xattrs.js';

/**
 * xattrs of `paths` (symlinks not followed), many paths per `getfattr` run.
 * Empty when getfattr is missing.
 *
 * @example
 * ```ts
 * const attrs = await readXattrs(['/tmp/rootfs/usr/bin/ping']);
 * ```
 */
export async function readXattrs(paths: string[]): Promise<XattrMap> {
  const reader = await getfattrReader({ exclude: isHostXattr });
  return reader ? reader.read(paths) : new Map();
}

/**
 * xattrs of every path below `dir` (one `getfattr -R` run). Empty when
 * getfattr is missing.
 *
 * @example
 * ```ts
 * const attrs = await readTreeXattrs('/tmp/step/upper');
 * ```
 */
export async function readTreeXattrs(dir: string): Promise<XattrMap> {
  return (await readTree(dir, { exclude: isHostXattr })) ?? new Map();
}
