/**
 * Changesets: diffs of trees, whiteouts and opaque directories, applying and
 * squashing layers.
 * @module
 */
export { diff, sameEntry, type Change, type ChangeKind, type DiffOptions } from './diff.js';
export { changesToEntries, type ChangesToEntriesOptions } from './emit.js';
export { apply, applyEntries, type ApplyOptions } from './apply.js';
export { LayerFormatError, type LayerFormatCode } from './errors.js';
export { classifyPath, OPAQUE_WHITEOUT, opaquePath, WHITEOUT_PREFIX, whiteoutPath, type WhiteoutKind } from './whiteout.js';
export { toLayer, type ToLayerOptions } from './emit.js';
export { flatten, squash, type FlattenOptions, type LayerInput, type SquashOptions } from './squash.js';
