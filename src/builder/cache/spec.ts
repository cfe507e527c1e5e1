/**
 * `cacheTo` / `cacheFrom` specs in buildx spelling: `type=local,dest=DIR`
 * and `type=local,src=DIR`, comma-separated `key=value` pairs.
 * @module
 */
import { isDigest } from '../../digest.js';
import { specAttributes } from '../../csv.js';
import { CacheError } from './errors.js';

/**
 * Where and what to export: `type=local,dest=DIR[,mode=min|max][,tag=T][,ignore-error=true]`.
 * `mode=min` (the default, as in BuildKit) exports the records of the
 * stages the final image is made of; `max` those of every stage built.
 *
 * @example
 * ```ts
 * parseCacheTo('type=local,dest=.ci/cache,mode=max'); // { type: 'local', dest: '.ci/cache', mode: 'max', tag: 'latest', ignoreError: false }
 * ```
 */
export interface CacheToSpec {
  type: 'local';
  dest: string;
  mode: 'min' | 'max';
  /** The name of the cache manifest in the layout's `index.json` (default `latest`). */
  tag: string;
  /** Report an export failure as an event instead of failing the build. */
  ignoreError: boolean;
}

/**
 * Where to import from: `type=local,src=DIR[,tag=T|digest=sha256:…]`. A
 * directory that does not exist yet (the first CI run) imports nothing.
 *
 * @example
 * ```ts
 * parseCacheFrom('type=local,src=.ci/cache'); // { type: 'local', src: '.ci/cache', tag: 'latest', ignoreError: false }
 * ```
 */
export interface CacheFromSpec {
  type: 'local';
  src: string;
  tag: string;
  digest?: string;
  /** Use no records, instead of failing, when the directory is not a readable cache layout. */
  ignoreError: boolean;
}

/** Attributes BuildKit's local cache accepts that change nothing here. */
const ACCEPTED = new Set(['compression', 'compression-level', 'force-compression', 'oci-mediatypes', 'image-manifest']);

function pairs(spec: string, allowed: readonly string[]): Map<string, string> {
  const out = specAttributes(spec, [...allowed, ...ACCEPTED], (reason) => invalid(spec, reason));
  const type = out.get('type') ?? 'local';
  if (type !== 'local') {
    throw invalid(spec, `cache type ${JSON.stringify(type)} is not supported: use type=local (a directory) or type=registry (a registry reference)`);
  }
  return out;
}

function flag(spec: string, value: string | undefined): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true' || value === '') return true;
  throw invalid(spec, `ignore-error must be true or false, got ${JSON.stringify(value)}`);
}

function invalid(spec: string, reason: string): CacheError {
  return new CacheError('CACHE_INVALID_SPEC', `invalid cache spec ${JSON.stringify(spec)}: ${reason}`, { spec, reason });
}

/**
 * Reads a `cacheTo` spec.
 * @throws {@link CacheError} `CACHE_INVALID_SPEC`.
 * @example
 * ```ts
 * const spec = parseCacheTo('type=local,dest=/tmp/cache');
 * ```
 */
export function parseCacheTo(spec: string | CacheToSpec): CacheToSpec {
  if (typeof spec !== 'string') return checkTo({ ...spec }, JSON.stringify(spec));
  const p = pairs(spec, ['type', 'dest', 'mode', 'tag', 'ignore-error']);
  const mode = p.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw invalid(spec, `mode must be min or max, got ${JSON.stringify(mode)}`);
  return checkTo({ type: 'local', dest: p.get('dest') ?? '', mode, tag: p.get('tag') ?? 'latest', ignoreError: flag(spec, p.get('ignore-error')) }, spec);
}

function checkTo(spec: CacheToSpec, written: string): CacheToSpec {
  if (spec.type !== 'local') throw invalid(written, 'only type=local is supported');
  if (typeof spec.dest !== 'string' || spec.dest === '') throw invalid(written, 'dest= is required');
  if (spec.mode !== 'min' && spec.mode !== 'max') throw invalid(written, 'mode must be min or max');
  checkTag(spec.tag, written);
  return spec;
}

/**
 * Reads a `cacheFrom` spec.
 * @throws {@link CacheError} `CACHE_INVALID_SPEC`.
 * @example
 * ```ts
 * const spec = parseCacheFrom('type=local,src=/tmp/cache,tag=main');
 * ```
 */
export function parseCacheFrom(spec: string | CacheFromSpec): CacheFromSpec {
  if (typeof spec !== 'string') return checkFrom({ ...spec }, JSON.stringify(spec));
  const p = pairs(spec, ['type', 'src', 'tag', 'digest', 'ignore-error']);
  const out: CacheFromSpec = { type: 'local', src: p.get('src') ?? '', tag: p.get('tag') ?? 'latest', ignoreError: flag(spec, p.get('ignore-error')) };
  const digest = p.get('digest');
  if (digest !== undefined) out.digest = digest;
  return checkFrom(out, spec);
}

function checkFrom(spec: CacheFromSpec, written: string): CacheFromSpec {
  if (spec.type !== 'local') throw invalid(written, 'only type=local is supported');
  if (typeof spec.src !== 'string' || spec.src === '') throw invalid(written, 'src= is required');
  checkTag(spec.tag, written);
  if (spec.digest !== undefined && !isDigest(spec.digest)) throw invalid(written, `digest= must be a digest, got ${JSON.stringify(spec.digest)}`);
  return spec;
}

function checkTag(tag: string, written: string): void {
  if (typeof tag !== 'string' || !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) throw invalid(written, `invalid tag ${JSON.stringify(tag)}`);
}
