/**
 * Errors for malformed layers and trees.
 * @module
 */
import { LayerkitError } from '../../errors.js';

/** What was wrong with a layer entry. Each is also the error's `code`. */
export type LayerFormatCode =
  /** `.wh.` with no name, `.wh..`, `.wh...`, an unknown `.wh..wh.*` marker, or a path below a whiteout name. */
  | 'INVALID_WHITEOUT'
  /** A hardlink whose target is in neither this layer nor the tree below it, or is a directory. */
  | 'HARDLINK_TARGET_MISSING'
  /** An entry below a path that exists and is not a directory (a file, a device…). */
  | 'NOT_A_DIRECTORY';

/**
 * Thrown when a layer (or a list of entries) cannot be applied as written.
 * `data.entry` is the entry's name as the layer spells it. Duplicate paths
 * are a {@link DuplicatePathError}, self-contradicting entries an
 * {@link InvalidEntryError}, names that escape the root an {@link UnsafePathError}.
 *
 * @example
 * ```ts
 * try {
 *   applyEntries(tree, entries);
 * } catch (err) {
 *   if (err instanceof LayerFormatError && err.code === 'INVALID_WHITEOUT') console.error(err.data.entry);
 * }
 * ```
 */
export class LayerFormatError extends LayerkitError<LayerFormatCode, { entry: string; detail: string }> {
  constructor(code: LayerFormatCode, entry: string, detail: string) {
    super(code, `${JSON.stringify(entry)}: ${detail}`, { entry, detail });
  }
}
