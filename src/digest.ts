/**
 * Content digests (`sha256:<64 hex>`) and streaming SHA-256.
 *
 * node:crypto hashes an order of magnitude faster than any JavaScript
 * implementation, so it is the default wherever it can be loaded; @noble/hashes
 * keeps the SDK working where it cannot (browsers, some edge runtimes).
 * @module
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { accepts, InvalidDigestError } from './errors.js';

/**
 * A validated content digest such as `sha256:e3b0c442…`.
 *
 * A branded string: it prints, compares and serialises as the plain string,
 * but only {@link parseDigest} and the hashers produce one, so code that takes a
 * `Digest` never re-validates.
 */
export type Digest = string & { readonly __digest: unique symbol };

/** The digest algorithms layerkit reads. It writes only `sha256`. */
export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const LOWER_HEX = /^[0-9a-f]+$/;

/**
 * Validates `value` as `algorithm:hex` and returns it as a {@link Digest}.
 *
 * @throws {@link InvalidDigestError} for an unknown algorithm, a wrong length or non-lowercase hex.
 * @example
 * ```ts
 * const d = parseDigest('sha256:' + 'a'.repeat(64));
 * digestHex(d); // 'aaaa…'
 * ```
 */
export function parseDigest(value: string): Digest {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new InvalidDigestError(value, 'expected algorithm:hex');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new InvalidDigestError(value, `unsupported algorithm ${JSON.stringify(algorithm)}`);
  }
  if (hex.length !== HEX_LENGTH[algorithm]) {
    throw new InvalidDigestError(value, `expected ${HEX_LENGTH[algorithm]} hex digits, got ${hex.length}`);
  }
  if (!LOWER_HEX.test(hex)) throw new InvalidDigestError(value, 'hex must be lowercase 0-9a-f');
  return value as Digest;
}

/** True when `value` is a well-formed digest (see {@link parseDigest}). */
export function isDigest(value: unknown): value is Digest {
  // A guard for untrusted JSON: anything but a string is simply not a digest.
  return typeof value === 'string' && accepts(parseDigest, value);
}

/** The algorithm part of a digest (`sha256`). */
export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

/** The hex part of a digest, as used in blob paths (`blobs/sha256/<hex>`). */
export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

/** Which SHA-256 implementation a hasher uses. */
export type HashBackend = 'node' | 'noble';

/** An incremental hasher: feed chunks with `update`, finish once with `digest`. */
export interface Hasher {
  /** Adds bytes; chunks may be any size. Returns the hasher for chaining. */
  update(chunk: Uint8Array): Hasher;
  /** Finishes and returns the digest. The hasher cannot be used afterwards. */
  digest(): Digest;
  /** Which implementation is doing the work. */
  readonly backend: HashBackend;
}

interface NodeCrypto {
  createHash(algorithm: string): { update(data: Uint8Array): unknown; digest(encoding: 'hex'): string };
}

// Looked up synchronously (no top-level await, so `require('layerkit')` can load the
// package): absent on runtimes without node:crypto or without process.getBuiltinModule
// (Node < 20.16), where the pure-JS hasher takes over.
const nodeCrypto = builtin<NodeCrypto>('node:crypto');

function builtin<T>(name: string): T | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  try {
    return proc?.getBuiltinModule?.(name) as T | undefined;
  } catch {
    return undefined;
  }
}

/** The backend {@link createSha256} picks when none is requested. */
export const defaultHashBackend: HashBackend = nodeCrypto ? 'node' : 'noble';

const HEX_TABLE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += HEX_TABLE[byte];
  return out;
}

class NodeSha256 implements Hasher {
  readonly backend = 'node' as const;
  readonly #hash;
  constructor(crypto: NodeCrypto) {
    this.#hash = crypto.createHash('sha256');
  }
  update(chunk: Uint8Array): Hasher {
    this.#hash.update(chunk);
    return this;
  }
  digest(): Digest {
    return `sha256:${this.#hash.digest('hex')}` as Digest;
  }
}

class NobleSha256 implements Hasher {
  readonly backend = 'noble' as const;
  readonly #hash = nobleSha256.create();
  update(chunk: Uint8Array): Hasher {
    this.#hash.update(chunk);
    return this;
  }
  digest(): Digest {
    return `sha256:${toHex(this.#hash.digest())}` as Digest;
  }
}

/**
 * Creates an incremental SHA-256 hasher.
 *
 * @param options.backend force an implementation; by default node:crypto when present.
 * @example
 * ```ts
 * const h = createSha256();
 * for await (const chunk of stream) h.update(chunk);
 * const d = h.digest(); // 'sha256:…'
 * ```
 */
export function createSha256(options: { backend?: HashBackend } = {}): Hasher {
  const backend = options.backend ?? defaultHashBackend;
  if (backend === 'node') {
    if (!nodeCrypto) throw new Error('node:crypto is not available on this runtime');
    return new NodeSha256(nodeCrypto);
  }
  return new NobleSha256();
}

/**
 * SHA-256 of bytes or a UTF-8 string, as a {@link Digest}.
 *
 * @example
 * ```ts
 * sha256(''); // 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
 * ```
 */
export function sha256(data: Uint8Array | string, options: { backend?: HashBackend } = {}): Digest {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return createSha256(options).update(bytes).digest();
}

/** The digest and byte count of a stream. */
export interface StreamDigest {
  digest: Digest;
  size: number;
}

/**
 * Hashes a byte stream (any async iterable of chunks, e.g. a Node `Readable`)
 * without holding more than one chunk.
 *
 * @example
 * ```ts
 * const { digest, size } = await sha256Stream(fs.createReadStream('layer.tar'));
 * ```
 */
export async function sha256Stream(
  source: AsyncIterable<Uint8Array>,
  options: { backend?: HashBackend } = {},
): Promise<StreamDigest> {
  const hasher = createSha256(options);
  let size = 0;
  for await (const chunk of source) {
    hasher.update(chunk);
    size += chunk.byteLength;
  }
  return { digest: hasher.digest(), size };
}
