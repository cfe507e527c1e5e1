/**
 * The owners of a lower directory under subordinate ids. An unprivileged
 * caller extracts every layer as its own files (root inside the sandbox's
 * user namespace); with subordinate ids mapped, the files the image gives to
 * other users are then chowned to them once, inside the namespace, so a
 * `USER app` step finds its home as the image has it (and the layer of a
 * step that did not touch a file records its owner as it was).
 *
 * The extracted directory records the map it was given (`owners.json`
 * beside `meta.json`): one chowned for another map is refused, never
 * chowned again in place (a live overlay may use it as a lower).
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Layer } from '../layers/layer.js';
import { memoPromise } from '../memo.js';
import { classifyPath } from '../layers/changes/whiteout.js';
import { readTar } from '../layers/tar/read.js';
import { SandboxError } from './errors.js';
import type { ExtractedLayer } from './extracted.js';
import { applyOwners, type IdMap, type OwnedPath } from './id-map.js';

const MARKER = 'owners.json';
/** Per lower and map, the pass under way. */
const inFlight = new Map<string, Promise<void>>();

/**
 * Gives the files of `lower` (extracted from `layer`) the layer's owners in
 * the namespace of `map`, unless done already for this map.
 *
 * @example
 * ```ts
 * const lower = await extractedLayer(layer, store.root);
 * await lowerOwners(lower, layer, idMap, caps.tools);
 * ```
 */
export function lowerOwners(lower: ExtractedLayer, layer: Layer, map: IdMap, tools: Record<string, string>): Promise<void> {
  const key = `${lower.root}\0${JSON.stringify(map)}`;
  // Shared while in flight only: the marker is read again next time (the layer may have been pruned and extracted again).
  return memoPromise(inFlight, key, () => chownLower(lower, layer, map, tools).finally(() => inFlight.delete(key)));
}

async function chownLower(lower: ExtractedLayer, layer: Layer, map: IdMap, tools: Record<string, string>): Promise<void> {
  const dir = dirname(lower.root);
  const marker = join(dir, MARKER);
  const want = JSON.stringify(map);
  const had = await readFile(marker, 'utf8').catch(() => '');
  if (had === want) return;
  // Chowned for another map: changing it in place would change a lower under the live mounts of whoever uses it.
  if (had !== '') {
    throw new SandboxError('SANDBOX_SETUP_FAILED', `the extracted layer ${dir} was given the owners of another subordinate id map (${had}); remove the store's extracted layers (pruneExtracted) while nothing uses them`, {
      path: dir,
      reason: `chowned for ${had}, wanted ${want}`,
    });
  }
  const owned: OwnedPath[] = [];
  for await (const member of readTar(layer.uncompressed())) {
    const { entry } = member;
    if ((entry.uid === 0 && entry.gid === 0) || entry.path === '/') continue;
    if (classifyPath(entry.path).kind !== 'entry') continue;
    owned.push({ path: entry.path.slice(1), uid: entry.uid, gid: entry.gid, mode: entry.mode, symlink: entry.type === 'symlink' });
  }
  await applyOwners(map, tools, lower.root, owned, join(dir, `.ids-${process.pid}`));
  await writeFile(marker, want);
}
