/**
 * Accounting and reclaiming of `layers-extracted/`: each base layer a RUN
 * step or a container used sits there unpacked (often hundreds of MB per
 * base image), and is only a cache of the layer blob.
 *
 * - Use: each extraction records its size (`bytes` in its meta.json) and
 *   every use touches meta.json, so its modification time is its last use.
 * - Leases: a process names the layers it uses in
 *   `layers-extracted/.leases/<owner>` before it looks at them; a lease of a
 *   dead owner (pid and start time, see `image/store/scratch.ts`) counts for
 *   nothing. Removal renames a directory away first, then re-reads the
 *   leases and puts back what a process took meanwhile.
 * - Reclaim: {@link pruneExtracted} removes the layers no stored image (and
 *   no container's image) uses — what `rmi` and `prune` call — or the least
 *   recently used ones beyond a byte budget — what `cache prune
 *   --keep-storage` calls.
 * @module
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { lstat, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, parseDigest } from '../digest.js';
import { directoryBlobSource, readBlob } from '../image/blob-source.js';
import { parseImageConfig, parseManifest } from '../image/json.js';
import { readRefs } from '../image/store/refs.js';
import { loadFacts } from '../image/store/resolve.js';
import { removeOwnedTree } from './id-map.js';
import { ownerLives, ownerTag, scratchName, scratchOwner } from '../image/store/scratch.js';

const HEX = /^[0-9a-f]{64}$/;

function leasesDir(base: string): string {
  return join(base, '.leases');
}

const held = new Map<string, Set<string>>();

/**
 * Records that this process uses the extracted layer `hex` under `base`
 * (`<store>/layers-extracted`), before it is looked up; synchronous so no
 * removal can slip between the lease and the use.
 */
export function leaseExtracted(base: string, hex: string): void {
  let set = held.get(base);
  if (set?.has(hex)) return;
  set ??= new Set();
  set.add(hex);
  held.set(base, set);
  const dir = leasesDir(base);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `lease-${ownerTag()}-0`);
  const temp = join(dir, `.${scratchName('lease')}`);
  writeFileSync(temp, [...set].join('\n'));
  renameSync(temp, file);
}

/** The layers live processes hold leases on; leases (and half-written ones) of dead owners are removed on the way. */
export function leasedExtracted(base: string): Set<string> {
  const out = new Set<string>();
  const dir = leasesDir(base);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const owner = scratchOwner(name);
    if (!owner) continue;
    if (!ownerLives(owner)) {
      rmSync(join(dir, name), { force: true });
      continue;
    }
    if (name.startsWith('.')) continue; // being written: its owner renames it into place
    try {
      for (const hex of readFileSync(join(dir, name), 'utf8').split('\n')) if (HEX.test(hex)) out.add(hex);
    } catch {
      // Replaced right now: the next version is read on the re-check.
    }
  }
  return out;
}

/** Sum of the sizes of the files under `dir` (directories and links count nothing). */
async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(path);
    else if (entry.isFile()) total += (await lstat(path).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

/** One extracted layer on disk. */
export interface ExtractedEntry {
  hex: string;
  dir: string;
  /** Bytes of its files. */
  bytes: number;
  /** Last use (ms since the epoch): meta.json's modification time. */
  usedMs: number;
}

/**
 * Every complete extracted layer of a store, with its size and last use.
 *
 * @example
 * ```ts
 * const layers = await listExtracted(store.root);
 * console.log(layers.reduce((n, l) => n + l.bytes, 0), 'bytes unpacked');
 * ```
 */
export async function listExtracted(storeRoot: string): Promise<ExtractedEntry[]> {
  const base = join(storeRoot, 'layers-extracted');
  const out: ExtractedEntry[] = [];
  for (const hex of (await readdir(base).catch(() => [] as string[])).filter((n) => HEX.test(n))) {
    const dir = join(base, hex);
    const metaPath = join(dir, 'meta.json');
    const info = await stat(metaPath).catch(() => undefined);
    if (!info) continue;
    let bytes: number | undefined;
    try {
      const meta = JSON.parse(await readFile(metaPath, 'utf8')) as { bytes?: unknown };
      if (typeof meta.bytes === 'number') bytes = meta.bytes;
    } catch {
      // Counted below.
    }
    // Extractions made before sizes were recorded are measured once.
    bytes ??= await treeBytes(join(dir, 'root'));
    out.push({ hex, dir, bytes, usedMs: info.mtimeMs });
  }
  return out;
}

/**
 * What `cache du` shows for the extracted layers.
 *
 * @example
 * ```ts
 * const { layers, bytes } = await extractedUsage(store.root);
 * ```
 */
export async function extractedUsage(storeRoot: string): Promise<{ layers: number; bytes: number }> {
  const all = await listExtracted(storeRoot);
  return { layers: all.length, bytes: all.reduce((n, l) => n + l.bytes, 0) };
}

/**
 * The diffIDs (hex) of every layer that a stored image, or the image of a
 * container of the store, is made of. Images whose manifest or config
 * cannot be read count nothing.
 *
 * @example
 * ```ts
 * await pruneExtracted(store.root, { keep: await layersInUse(store.root) });
 * ```
 */
export async function layersInUse(storeRoot: string): Promise<Set<string>> {
  const used = new Set<string>();
  for (const entry of await readRefs(storeRoot).catch(() => [])) {
    const facts = await loadFacts(storeRoot, entry).catch(() => undefined);
    for (const id of facts?.config.rootfs?.diff_ids ?? []) used.add(digestHex(parseDigest(id)));
  }
  // A container keeps the layers of its image even after the image's tag is gone.
  const containers = join(storeRoot, 'containers');
  const source = directoryBlobSource(storeRoot);
  for (const id of await readdir(containers).catch(() => [] as string[])) {
    try {
      const spec = JSON.parse(await readFile(join(containers, id, 'config.json'), 'utf8')) as { imageDigest?: string };
      if (typeof spec.imageDigest !== 'string') continue;
      const manifest = parseManifest(await readBlob(source, parseDigest(spec.imageDigest)));
      const config = parseImageConfig(await readBlob(source, parseDigest(manifest.config.digest), manifest.config.size));
      for (const diffId of config.rootfs?.diff_ids ?? []) used.add(digestHex(parseDigest(diffId)));
    } catch {
      // Not a container directory, or its image is gone: nothing to keep for it.
    }
  }
  return used;
}

/**
 * Options of {@link pruneExtracted}.
 *
 * @example
 * ```ts
 * await pruneExtracted(store.root, { keep: await layersInUse(store.root) });
 * await pruneExtracted(store.root, { keepBytes: 2 ** 30 });
 * ```
 */
export interface PruneExtractedOptions {
  /** Remove every layer not in this set (hex diffIDs). */
  keep?: ReadonlySet<string>;
  /** Remove least recently used layers until the rest fit in this many bytes. */
  keepBytes?: number;
}

/**
 * Removes extracted layers no live process holds a lease on: those not in
 * `keep`, then the least recently used ones beyond `keepBytes`.
 *
 * @example
 * ```ts
 * const { removed, freedBytes } = await pruneExtracted(store.root, { keep: await layersInUse(store.root) });
 * ```
 */
export async function pruneExtracted(storeRoot: string, options: PruneExtractedOptions): Promise<{ removed: number; freedBytes: number; keptBytes: number }> {
  const base = join(storeRoot, 'layers-extracted');
  const all = await listExtracted(storeRoot);
  const leased = leasedExtracted(base);
  const victims: ExtractedEntry[] = [];
  let kept = all.filter((l) => {
    if (leased.has(l.hex)) return true;
    if (options.keep && !options.keep.has(l.hex)) {
      victims.push(l);
      return false;
    }
    return true;
  });
  if (options.keepBytes !== undefined) {
    let total = kept.reduce((n, l) => n + l.bytes, 0);
    const byAge = kept.filter((l) => !leased.has(l.hex)).sort((a, b) => a.usedMs - b.usedMs || (a.hex < b.hex ? -1 : 1));
    for (const l of byAge) {
      if (total <= options.keepBytes) break;
      victims.push(l);
      total -= l.bytes;
    }
    kept = kept.filter((l) => !victims.includes(l));
  }
  // Renamed away first (an owned name, swept if this process dies now), then leases read again.
  const moved: Array<{ entry: ExtractedEntry; to: string }> = [];
  for (const entry of victims) {
    const to = join(base, `.${scratchName('gone')}`);
    try {
      await rename(entry.dir, to);
      moved.push({ entry, to });
    } catch {
      // Gone already.
    }
  }
  const leasedNow = moved.length > 0 ? leasedExtracted(base) : new Set<string>();
  let removed = 0;
  let freedBytes = 0;
  for (const { entry, to } of moved) {
    if (leasedNow.has(entry.hex)) {
      await rename(to, entry.dir).catch(() => rm(to, { recursive: true, force: true }));
      kept.push(entry);
      continue;
    }
    // A rootless store with subordinate ids holds files of those ids (lower-owners.ts).
    await removeOwnedTree(to);
    removed++;
    freedBytes += entry.bytes;
  }
  return { removed, freedBytes, keptBytes: kept.reduce((n, l) => n + l.bytes, 0) };
}
