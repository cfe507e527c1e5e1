/**
 * Typed errors of the layer module: tar format problems, unsafe paths,
 * invalid entries and compression failures. Every one carries the position
 * that produced it (member name and byte offset for tar input, the entry path
 * for written entries) so a caller can report it without parsing messages.
 * @module
 */
import { LayerkitError } from '../errors.js';

/** Where in a tar stream a problem was found. */
export interface TarPosition {
  /** Byte offset of the header block of the member (in the uncompressed tar). */
  offset: number;
  /** The member name as far as it was decoded, if any. */
  name?: string;
}

/**
 * The bytes are not a well-formed tar: a bad header checksum, a malformed
 * number or PAX record, a member cut short by the end of the input.
 *
 * @example
 * ```ts
 * try {
 *   for await (const m of readTar(source)) await drain(m.body);
 * } catch (err) {
 *   if (err instanceof TarFormatError) console.error(err.data.offset, err.data.reason);
 * }
 * ```
 */
export class TarFormatError extends LayerkitError<
  'TAR_FORMAT' | 'TAR_TRUNCATED',
  TarPosition & { reason: string }
> {
  constructor(code: 'TAR_FORMAT' | 'TAR_TRUNCATED', reason: string, position: TarPosition) {
    const where = position.name === undefined ? `at offset ${position.offset}` : `in ${JSON.stringify(position.name)} at offset ${position.offset}`;
    super(code, `${code === 'TAR_TRUNCATED' ? 'truncated tar' : 'malformed tar'} ${where}: ${reason}`, {
      ...position,
      reason,
    });
  }
}

/**
 * The tar is well formed but uses a feature layers must not use or that
 * layerkit does not read: sparse members (OCI layer.md says they SHOULD NOT be
 * used), multi-volume members, unknown member types.
 *
 * @example
 * ```ts
 * if (err instanceof TarUnsupportedError && err.data.feature === 'sparse') {
 *   // repack the file without holes
 * }
 * ```
 */
export class TarUnsupportedError extends LayerkitError<
  'TAR_UNSUPPORTED',
  TarPosition & { feature: string }
> {
  constructor(feature: string, position: TarPosition) {
    const where = position.name === undefined ? `at offset ${position.offset}` : `${JSON.stringify(position.name)} at offset ${position.offset}`;
    super('TAR_UNSUPPORTED', `unsupported tar feature (${feature}): ${where}`, { ...position, feature });
  }
}

/**
 * A path (a member name or a hardlink target) would resolve outside the
 * root, e.g. `../etc/passwd`, or contains a NUL byte.
 *
 * @example
 * ```ts
 * cleanPath('a/../../x'); // throws UnsafePathError
 * ```
 */
export class UnsafePathError extends LayerkitError<'UNSAFE_PATH', { path: string; reason: string; offset?: number }> {
  constructor(path: string, reason: string, offset?: number) {
    super('UNSAFE_PATH', `unsafe path ${JSON.stringify(path)}: ${reason}`, offset === undefined ? { path, reason } : { path, reason, offset });
  }
}

/**
 * Two entries of one layer name the same path (OCI layer.md: a layer tar
 * MUST NOT contain duplicate paths).
 *
 * @example
 * ```ts
 * await collect(writeTar([file('/a'), file('/a')])); // throws DuplicatePathError
 * ```
 */
export class DuplicatePathError extends LayerkitError<'DUPLICATE_PATH', { path: string }> {
  constructor(path: string) {
    super('DUPLICATE_PATH', `duplicate path ${JSON.stringify(path)} in one layer`, { path });
  }
}

/**
 * An entry handed to the writer cannot be written as it is: a path that is
 * not normalized, a mode outside `0o7777`, a negative id, a link without a
 * target, a content source whose size disagrees with `size`.
 *
 * @example
 * ```ts
 * if (err instanceof InvalidEntryError) console.error(err.data.path, err.data.reason);
 * ```
 */
export class InvalidEntryError extends LayerkitError<
  'INVALID_ENTRY' | 'CONTENT_SIZE_MISMATCH',
  { path: string; reason: string }
> {
  constructor(path: string, reason: string, code: 'INVALID_ENTRY' | 'CONTENT_SIZE_MISMATCH' = 'INVALID_ENTRY') {
    super(code, `invalid entry ${JSON.stringify(path)}: ${reason}`, { path, reason });
  }
}

/** Compression formats layerkit recognises by their magic bytes. */
export type CompressionFormat = 'gzip' | 'zstd' | 'none';

/**
 * A compressed stream is corrupt (bad CRC, bad deflate data, cut short), or
 * uses a format this runtime cannot decompress (zstd where node:zlib lacks it).
 *
 * @example
 * ```ts
 * if (err instanceof CompressionError && err.code === 'COMPRESSION_UNSUPPORTED') {
 *   console.error(`cannot read ${err.data.format} layers on this runtime`);
 * }
 * ```
 */
export class CompressionError extends LayerkitError<
  'COMPRESSION_FORMAT' | 'COMPRESSION_UNSUPPORTED',
  { format: CompressionFormat; reason: string }
> {
  constructor(code: 'COMPRESSION_FORMAT' | 'COMPRESSION_UNSUPPORTED', format: CompressionFormat, reason: string, options?: { cause?: unknown }) {
    super(code, `${format}: ${reason}`, { format, reason }, options);
  }
}

/**
 * A member body of {@link readTar} was read after the reader moved on to the
 * next member (bodies must be consumed in order; unread ones are skipped).
 *
 * @example
 * ```ts
 * const members = [];
 * for await (const m of readTar(source)) members.push(m); // bodies not read in time
 * await drain(members[0].body); // throws TarBodyExpiredError
 * ```
 */
export class TarBodyExpiredError extends LayerkitError<'TAR_BODY_EXPIRED', { name: string }> {
  constructor(name: string) {
    super('TAR_BODY_EXPIRED', `the body of ${JSON.stringify(name)} was read after the next member`, { name });
  }
}
