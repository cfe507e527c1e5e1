/**
 * Extended attributes of context files, read with the layers module's
 * batching `getfattr` reader (Node has no xattr API). Attribute names under
 * `com.apple.` are dropped, as BuildKit's context transfer drops them.
 * @module
 */
import {
  getfattrReader as layersGetfattrReader,
  parseGetfattrDump as parseDump,
  type XattrMap,
} from '../layers/xattrs.js';

/** Reads the extended attributes of host files (without following symlinks): the layers module's one reader shape. */
import type { XattrReader } from '../layers/from-directory.js';

export type { XattrReader };

function isAppleXattr(name: string): boolean {
  return name.startsWith('com.apple.');
}

/**
 * The `getfattr`-based reader, or undefined when `getfattr` is not on `PATH`.
 * Paths are read many per process (runs cut by command-line length; lists
 * asked for together share runs).
 *
 * @example
 * ```ts
 * const reader = await getfattrReader();
 * const attrs = await reader?.read(['/srv/app/bin/ping']); // Map { '/srv/app/bin/ping' => { 'security.capability': … } }
 * ```
 */
export function getfattrReader(): Promise<XattrReader | undefined> {
  return layersGetfattrReader({ exclude: isAppleXattr });
}

/**
 * Parses `getfattr --dump --encoding=hex` output into `out`, without
 * `com.apple.*` names.
 *
 * @example
 * ```ts
 * const out = new Map();
 * parseGetfattrDump(Buffer.from('# file: /a\nuser.k=0x6869\n\n'), out);
 * ```
 */
export function parseGetfattrDump(stdout: Uint8Array, out: XattrMap): void {
  parseDump(stdout, out, isAppleXattr);
}
