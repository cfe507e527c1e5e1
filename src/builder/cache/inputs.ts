/**
 * What steps key on beyond their text, in the forms the cache knows: the
 * environment a step's `inputs` get (the stat index, chain keys of built
 * stages, remembered content checksums), image identities, and checksums
 * of what a copy selects in the build context or in a stage. Which inputs a
 * step has is the step's own rule (`steps/`); this module only measures.
 * @module
 */
import { sha256, type Digest } from '../../digest.js';
import type { Layer } from '../../layers/layer.js';
import type { LayerIndex } from '../../unionfs/layer-index.js';
import type { StatCache } from '../../context/stat-cache.js';
import type { StageState } from '../stage-state.js';
import type { CopyItem } from '../copy/sources.js';
import { keyOf, type CacheKey } from './key.js';
import type { CacheRecord } from './records.js';
import { checksumItems } from './selection.js';

/** What key inputs need from the cache around them. */
export interface InputEnv {
  statCache: StatCache;
  /** The chain key a built stage ended with, if it is known. */
  chainOf(state: StageState): CacheKey | undefined;
  /** Remembered content checksums (`content` records), unless lookups are off. */
  recall(key: CacheKey): Promise<CacheRecord | undefined>;
  remember(key: CacheKey, record: CacheRecord): void;
  /** Whether lookups are allowed in the stage being keyed. */
  lookups: boolean;
}

/** A cache hit as a step replays it: its history text and its layer, loaded with its saved index when there is one. */
export interface CachedStep {
  createdBy: string | null;
  layer: { digest: string; layer: Layer; index: LayerIndex | undefined } | null;
}

/** The identity of an image for keys: its config digest when known, else the digest of its parsed config. */
export function imageIdentity(image: { config: unknown; digest?: string }): string {
  return image.digest ?? sha256(JSON.stringify(image.config));
}

/** How a selection is named in a key (the sources as written, `--exclude`, `--parents`). */
export interface SelectionSpec {
  sources: readonly string[];
  excludes: readonly string[];
  parents: boolean;
}

/** The key input of a selection in an image (or scratch): immutable under its identity, so nothing is read. */
export function imageSelectionKey(identity: string | null, selection: SelectionSpec): string {
  return identity === null ? keyOf(['scratch', selection]) : keyOf(['image', identity, selection]);
}

/**
 * The checksum of what `selection` selects in a built stage, by content:
 * remembered under the stage's chain key, so an unchanged stage is not read
 * again; `items` is called only when it must be read.
 */
export async function stageSelectionChecksum(
  state: StageState,
  selection: SelectionSpec,
  items: () => Promise<readonly CopyItem[]>,
  env: InputEnv,
): Promise<string> {
  const chain = env.chainOf(state);
  const memo = chain === undefined ? undefined : keyOf(['content', chain, selection]);
  if (memo !== undefined && env.lookups) {
    const known = await env.recall(memo);
    if (known?.kind === 'content') return known.checksum;
  }
  const checksum = await checksumItems(await items(), selection.parents ? { withPaths: true } : {});
  if (memo !== undefined) env.remember(memo, { kind: 'content', checksum: checksum as Digest });
  return checksum;
}
