/**
 * Saved layer indexes: the entry list of a cached layer (names, types,
 * modes, owners, sizes, link targets, whiteouts — no contents), kept beside
 * its blob as `indexes/<hex>.json`.
 *
 * When a step after a run of hits misses, it needs the file system the hits
 * left (a COPY looks at its destination, a RUN at everything). Without a
 * saved index that means decompressing every cached layer below it. With
 * one, the stack is built from the saved entries at once; a file's bytes
 * are read from the layer's extraction on disk when there is one (an
 * earlier RUN made it), else fetched from the blob only when something reads
 * them (the first read indexes that one layer fully, once). Base image
 * layers get saved indexes too, once a RUN has stacked them.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { digestHex, type Digest } from '../../digest.js';
import { writeFileAtomic } from '../../image/fs-atomic.js';
import { processScratchDir } from '../../image/store/scratch.js';
import type { ContentSource, Entry, EntryType } from '../../layers/entry.js';
import type { Layer } from '../../layers/layer.js';
import { LayerIndex } from '../../unionfs/layer-index.js';
import { indexLayer, type IndexLayerOptions } from '../../unionfs/layer-source.js';

const VERSION = 1;
const TYPES = new Set<EntryType>(['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo']);

type SavedEntry = [path: string, type: EntryType, mode: number, uid: number, gid: number, mtime: number, size: number, linkname: string | null, dev: [number, number] | null, xattrs: Record<string, string> | null];

/**
 * Where indexing a layer for the store at `storeRoot` spills file bodies
 * past the in-memory budget: this process's `spool-<owner>-…` directory
 * under `<store>/tmp` (see `processScratchDir`), never the OS temp
 * directory. It goes when the process exits, or, after a `kill -9`, with the
 * next command that opens the store.
 *
 * @example
 * ```ts
 * const index = await indexLayer(layer, await storeIndexOptions(store.root));
 * ```
 */
export async function storeIndexOptions(storeRoot: string): Promise<IndexLayerOptions> {
  return { spoolDir: await processScratchDir(storeRoot, 'spool') };
}

/** The file of a saved index. */
export function indexFile(root: string, digest: Digest): string {
  return join(root, 'indexes', `${digestHex(digest)}.json`);
}

/** Saves the entries of `index` (which describes the layer with blob `digest`). */
export async function saveIndex(root: string, tmpDir: string, digest: Digest, index: LayerIndex): Promise<void> {
  // Not fsynced, as the records: an index lost in a crash is read again from its layer.
  await writeFileAtomic(indexFile(root, digest), indexJson(digest, index), { tmpDir, durable: false, hint: 'index' });
}

/**
 * The saved form of a layer's index (entries without contents), as JSON
 * bytes: what `indexes/<hex>.json` holds and what a registry publishes
 * beside an image (docs/cache.md, "Layer indexes").
 */
export function encodeIndex(digest: Digest, index: LayerIndex): Uint8Array {
  return new TextEncoder().encode([...indexJson(digest, index)].join(''));
}

/** Entries per piece of {@link indexJson}. */
const JSON_BATCH = 1024;

/**
 * One entry as the JSON of its {@link SavedEntry} tuple, written field by
 * field: the same text as `JSON.stringify` of the tuple without making the
 * tuple, since a 100,000-file layer would make 100,000 of them at once.
 */
function savedEntryJson(e: Entry): string {
  const dev = e.type === 'char' || e.type === 'block' ? `[${JSON.stringify(e.devmajor ?? 0)},${JSON.stringify(e.devminor ?? 0)}]` : 'null';
  const xattrs = e.xattrs ? JSON.stringify(Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [k, Buffer.from(v).toString('hex')]))) : 'null';
  const link = e.linkname === undefined ? 'null' : JSON.stringify(e.linkname);
  const size = e.type === 'file' ? e.size : 0;
  return `[${JSON.stringify(e.path)},"${e.type}",${JSON.stringify(e.mode)},${JSON.stringify(e.uid)},${JSON.stringify(e.gid)},${JSON.stringify(e.mtime)},${JSON.stringify(size)},${link},${dev},${xattrs}]`;
}

/**
 * The text of {@link encodeIndex} in pieces of about a thousand entries (the
 * same text as `JSON.stringify` of the whole): `saveIndex` writes them as
 * they come, so a layer of 100,000 files never has its index in memory as
 * one array of records and one string, and a piece is gone before it has
 * lived long enough to be moved to the old generation.
 */
function* indexJson(digest: Digest, index: LayerIndex): Generator<string> {
  let pieces = [`{"v":${VERSION},"digest":${JSON.stringify(digest)},"entries":[`];
  let count = 0;
  for (const e of index.ordered()) {
    pieces.push(count++ === 0 ? savedEntryJson(e) : ',' + savedEntryJson(e));
    if (count % JSON_BATCH === 0) {
      yield pieces.join('');
      pieces = [];
    }
  }
  pieces.push(`],"whiteouts":${JSON.stringify(index.whiteouts)},"opaque":${JSON.stringify(index.opaqueDirs)}}`);
  yield pieces.join('');
}

/**
 * The saved index of a cached layer, its file contents read on demand
 * through `contents` (a second `Layer` over the same blob, indexed in full
 * on the first read). Undefined when there is no usable saved index.
 *
 * `root` is a build cache's directory, `<store>/cache`: the full index of a
 * first read spills into the store's scratch ({@link storeIndexOptions}).
 */
export async function loadIndex(root: string, digest: Digest, contents: () => Layer, position: number, local?: LocalFiles): Promise<LayerIndex | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(indexFile(root, digest));
  } catch {
    return undefined;
  }
  return decodeIndex(bytes, digest, contents, position, local, () => storeIndexOptions(dirname(root)));
}

/**
 * Where a decoded index may read one file's bytes without the layer (the
 * layer's extraction on disk): undefined when it cannot serve exactly that
 * file, which is then read from the layer.
 */
export type LocalFiles = (path: string, size: number) => Promise<AsyncIterable<Uint8Array> | undefined>;

/**
 * {@link encodeIndex}'s bytes back to an index over `contents`; undefined
 * when they are not a valid index of `digest`. `spill` says how the layer is
 * indexed when a file is first read from it (for a store:
 * `() => storeIndexOptions(store.root)`); without it, bodies past 64 MiB
 * spill into the OS temp directory.
 */
export function decodeIndex(bytes: Uint8Array, digest: Digest, contents: () => Layer, position: number, local?: LocalFiles, spill?: () => Promise<IndexLayerOptions>): LayerIndex | undefined {
  let saved: { v?: unknown; digest?: unknown; entries?: unknown; whiteouts?: unknown; opaque?: unknown };
  try {
    saved = JSON.parse(new TextDecoder().decode(bytes)) as typeof saved;
  } catch {
    return undefined;
  }
  if (saved === null || typeof saved !== 'object') return undefined;
  if (saved.v !== VERSION || saved.digest !== digest || !Array.isArray(saved.entries) || !isStrings(saved.whiteouts) || !isStrings(saved.opaque)) return undefined;
  let full: Promise<LayerIndex> | undefined;
  const lazy = (path: string, size: number): ContentSource => ({
    size,
    async *open() {
      // One file from the layer's extraction costs one read; the layer costs a full decompression.
      const body = full === undefined ? await local?.(path, size) : undefined;
      if (body) {
        yield* body;
        return;
      }
      full ??= (async () => indexLayer(ownView(contents()), spill ? await spill() : {}))();
      const entry = (await full).entries.get(path);
      if (entry?.content) yield* entry.content.open();
    },
  });
  const entries: Entry[] = [];
  try {
    for (const raw of saved.entries as unknown[]) {
      const e = decodeEntry(raw);
      if (!e) return undefined;
      if (e.type === 'file' && e.size > 0) e.content = lazy(e.path, e.size);
      entries.push(e);
    }
    // Whiteouts and opaque markers go back in as the entries a tar would hold.
    const marker = (path: string): Entry => ({ path, type: 'file', mode: 0, uid: 0, gid: 0, mtime: 0, size: 0 });
    for (const path of saved.whiteouts as string[]) entries.push(marker(posix.join(posix.dirname(path), `.wh.${posix.basename(path)}`)));
    for (const dir of saved.opaque as string[]) entries.push(marker(posix.join(dir, '.wh..wh..opq')));
    return LayerIndex.fromEntries(entries, { position });
  } catch {
    return undefined;
  }
}

/**
 * `layer` under an object of its own: the decoded index is usually
 * remembered as `layer`'s own, and indexing `layer` itself would then return
 * this very index, whose reads would wait on themselves forever.
 */
function ownView(layer: Layer): Layer {
  return {
    mediaType: layer.mediaType,
    diffId: () => layer.diffId(),
    digest: () => layer.digest(),
    size: () => layer.size(),
    compressed: () => layer.compressed(),
    uncompressed: () => layer.uncompressed(),
  };
}

function decodeEntry(raw: unknown): Entry | undefined {
  if (!Array.isArray(raw) || raw.length !== 10) return undefined;
  const [path, type, mode, uid, gid, mtime, size, linkname, dev, xattrs] = raw as SavedEntry;
  if (typeof path !== 'string' || !TYPES.has(type)) return undefined;
  if (![mode, uid, gid, mtime, size].every((n) => Number.isSafeInteger(n))) return undefined;
  const entry: Entry = { path, type, mode, uid, gid, mtime, size };
  if (typeof linkname === 'string') entry.linkname = linkname;
  if (Array.isArray(dev)) [entry.devmajor, entry.devminor] = dev;
  if (xattrs && typeof xattrs === 'object') entry.xattrs = Object.fromEntries(Object.entries(xattrs).map(([k, v]) => [k, Uint8Array.from(Buffer.from(String(v), 'hex'))]));
  return entry;
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}
