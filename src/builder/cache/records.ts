/**
 * Cache records: what a key maps to, as JSON on disk or in an exported
 * cache. Records are read from places anyone may have written (a CI
 * artifact, a shared directory), so decoding checks every field and turns
 * anything unexpected into "no record" — a miss, never a crash or a stale
 * answer.
 * @module
 */
import { isDigest, type Digest } from '../../digest.js';

/**
 * The layer a step made, as a blob in the cache.
 *
 * @example
 * ```ts
 * const info: CachedLayer = { mediaType: layer.mediaType, digest: await layer.digest(), size: await layer.size(), diffId: await layer.diffId() };
 * ```
 */
export interface CachedLayer {
  mediaType: string;
  /** The blob digest. */
  digest: Digest;
  /** The blob size in bytes. */
  size: number;
  /** The uncompressed tar's digest. */
  diffId: Digest;
}

/**
 * What one key maps to.
 *
 * @example
 * ```ts
 * const record: CacheRecord = { kind: 'step', createdBy: 'COPY . /app # buildkit', layer: info };
 * ```
 *
 * - `step`: the result of an instruction: its history text and the layer it
 *   made (null for none). Config changes are not stored: they follow from
 *   the instruction and the state before it, which the key covers, so a hit
 *   applies them again.
 * - `content`: a remembered content checksum of a selection in a stage
 *   whose chain key is part of the record's key — so a rebuild that reaches
 *   the same stage state need not read the files again.
 */
export type CacheRecord =
  | { kind: 'step'; createdBy: string | null; layer: CachedLayer | null }
  | { kind: 'content'; checksum: Digest };

/** The version of the record encoding. */
export const RECORD_VERSION = 1;

/** The JSON text of a record stored under `key`. */
export function encodeRecord(key: Digest, record: CacheRecord): string {
  return JSON.stringify({ v: RECORD_VERSION, key, ...record });
}

/**
 * A record from parsed JSON, or undefined when it is not exactly a record
 * (of this version, for `key` when given).
 */
export function decodeRecord(value: unknown, key?: string): { key: Digest; record: CacheRecord } | undefined {
  if (!isObject(value) || value.v !== RECORD_VERSION) return undefined;
  if (typeof value.key !== 'string' || !isDigest(value.key) || !value.key.startsWith('sha256:') || (key !== undefined && value.key !== key)) return undefined;
  if (value.kind === 'content') {
    if (typeof value.checksum !== 'string' || !isDigest(value.checksum)) return undefined;
    return { key: value.key, record: { kind: 'content', checksum: value.checksum } };
  }
  if (value.kind !== 'step') return undefined;
  if (value.createdBy !== null && typeof value.createdBy !== 'string') return undefined;
  let layer: CachedLayer | null = null;
  if (value.layer !== null) {
    layer = decodeLayer(value.layer) ?? null;
    if (!layer) return undefined;
  }
  return { key: value.key, record: { kind: 'step', createdBy: value.createdBy, layer } };
}

/** A layer description, checked. */
export function decodeLayer(value: unknown): CachedLayer | undefined {
  if (!isObject(value)) return undefined;
  const { mediaType, digest, size, diffId } = value;
  if (typeof mediaType !== 'string' || mediaType === '' || mediaType.length > 255) return undefined;
  if (typeof digest !== 'string' || !isDigest(digest) || !digest.startsWith('sha256:')) return undefined;
  if (typeof diffId !== 'string' || !isDigest(diffId)) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined;
  return { mediaType, digest, size, diffId };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
