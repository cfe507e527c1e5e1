/**
 * Layers from entries: the deterministic writer plus compression.
 * @module
 */
import type { Entry } from './entry.js';
import { layerFromUncompressed, type LayerCompressionOptions } from './from-uncompressed.js';
import type { Layer } from './layer.js';
import type { ExternalHardlinks } from './tar/link-groups.js';
import { writeTar, type WriteTarOptions } from './tar/write.js';

/** Options of {@link layerFromEntries}. */
export interface LayerFromEntriesOptions extends LayerCompressionOptions {
  /** Clamp mtimes to this epoch (seconds); see {@link writeTar}. */
  sourceDateEpoch?: number;
  /** Hardlinks to files not in this layer: refused by default; see {@link writeTar}. */
  externalHardlinks?: ExternalHardlinks;
}

/**
 * Entries to write: a collection (copied once, shallowly, when the layer is
 * made — content stays lazy) or a function returning a fresh sequence on
 * every call (for sources too large to list up front).
 */
export type EntrySource = Iterable<Entry> | (() => Iterable<Entry> | AsyncIterable<Entry>);

/**
 * A layer whose tar is {@link writeTar} of `entries`. Nothing is read until a
 * getter asks; the tar is regenerated for each stream (it is deterministic),
 * and file contents are read from their sources each time.
 *
 * @example
 * ```ts
 * const layer = layerFromEntries(
 *   [{ path: '/hello.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 2, content: bytesSource(hi) }],
 *   { sourceDateEpoch: 0, level: 9 },
 * );
 * const diffId = await layer.diffId();
 * ```
 */
export function layerFromEntries(entries: EntrySource, options: LayerFromEntriesOptions = {}): Layer {
  const list = typeof entries === 'function' ? entries : Array.from(entries);
  const tarOptions: WriteTarOptions = {};
  if (options.sourceDateEpoch !== undefined) tarOptions.sourceDateEpoch = options.sourceDateEpoch;
  if (options.externalHardlinks !== undefined) tarOptions.externalHardlinks = options.externalHardlinks;
  return layerFromUncompressed(() => writeTar(typeof list === 'function' ? list() : list, tarOptions), options);
}

/**
 * A layer over the entries a walk lists (a directory, an overlay upper),
 * walked once, when a stream of the layer is first read.
 *
 * @example
 * ```ts
 * const layer = layerFromWalk(() => entriesFromDirectory('./rootfs'), { sourceDateEpoch: 0 });
 * ```
 */
export function layerFromWalk(walk: () => Promise<Entry[]>, options: LayerFromEntriesOptions = {}): Layer {
  let listed: Promise<Entry[]> | undefined;
  return layerFromEntries(() => {
    listed ??= walk();
    return (async function* () {
      yield* await listed!;
    })();
  }, options);
}

/**
 * The empty layer: the canonical empty tar (1024 zero bytes, diffID
 * `sha256:5f70bf18…`), gzip-compressed with the defaults.
 *
 * @example
 * ```ts
 * await emptyLayer.diffId(); // 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef'
 * ```
 */
export const emptyLayer: Layer = layerFromEntries([]);
