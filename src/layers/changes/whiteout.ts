/**
 * OCI whiteout names (image-spec layer.md "Whiteouts"): `.wh.<name>` deletes
 * `<name>` from the layers below; `<dir>/.wh..wh..opq` hides every lower child
 * of `<dir>`.
 * @module
 */
import { parentPath } from '../entry.js';
import { baseName, childPath } from '../path.js';
import { LayerFormatError } from './errors.js';

/** The prefix that marks a whiteout name. */
export const WHITEOUT_PREFIX = '.wh.';
/** The base name of an opaque-directory marker. */
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
/** The prefix of AUFS metadata names, of which only the opaque marker is meaningful in OCI layers. */
const METADATA_PREFIX = '.wh..wh.';

/**
 * The whiteout path that deletes `path`.
 *
 * @example
 * ```ts
 * whiteoutPath('/etc/my-app-config'); // '/etc/.wh.my-app-config'
 * ```
 */
export function whiteoutPath(path: string): string {
  return childPath(parentPath(path), WHITEOUT_PREFIX + baseName(path));
}

/**
 * The opaque marker path for directory `dir`.
 *
 * @example
 * ```ts
 * opaquePath('/a'); // '/a/.wh..wh..opq'
 * ```
 */
export function opaquePath(dir: string): string {
  return childPath(dir, OPAQUE_WHITEOUT);
}

/** What a layer path means. */
export type WhiteoutKind =
  | { kind: 'entry' }
  | { kind: 'whiteout'; target: string }
  | { kind: 'opaque'; dir: string };

/**
 * Classifies a normalized layer path as a plain entry, a whiteout (with the
 * path it deletes) or an opaque marker (with its directory).
 *
 * @throws {@link LayerFormatError} `INVALID_WHITEOUT` for `.wh.` (no name),
 *   `.wh..` and `.wh...` (they would name `.` and `..`), any other `.wh..wh.*`
 *   metadata name, and a path with a whiteout name as an ancestor.
 * @example
 * ```ts
 * classifyPath('/a/.wh.b');      // { kind: 'whiteout', target: '/a/b' }
 * classifyPath('/a/.wh..wh..opq'); // { kind: 'opaque', dir: '/a' }
 * classifyPath('/a/b');           // { kind: 'entry' }
 * ```
 */
export function classifyPath(path: string): WhiteoutKind {
  if (!path.includes(WHITEOUT_PREFIX)) return { kind: 'entry' };
  const parts = path.split('/');
  for (let i = 1; i < parts.length - 1; i++) {
    if (parts[i]!.startsWith(WHITEOUT_PREFIX)) {
      throw new LayerFormatError('INVALID_WHITEOUT', path, `ancestor ${JSON.stringify(parts[i])} is a whiteout name`);
    }
  }
  const name = parts[parts.length - 1]!;
  if (!name.startsWith(WHITEOUT_PREFIX)) return { kind: 'entry' };
  if (name === OPAQUE_WHITEOUT) return { kind: 'opaque', dir: parentPath(path) };
  if (name.startsWith(METADATA_PREFIX)) throw new LayerFormatError('INVALID_WHITEOUT', path, 'unknown .wh..wh. metadata name');
  const target = name.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') {
    throw new LayerFormatError('INVALID_WHITEOUT', path, 'a whiteout must name a file');
  }
  return { kind: 'whiteout', target: childPath(parentPath(path), target) };
}
