/**
 * Errors of the image module. Each has a string `code` and the facts in `data`.
 * @module
 */
import { LayerkitError } from '../errors.js';

/**
 * A string that is not a valid image reference under Docker's grammar
 * (`[domain[:port]/]path[:tag][@digest]`, lowercase path components, tag
 * `[\w][\w.-]{0,127}`), or a reference used where its form is not allowed
 * (a digest where a tag is needed).
 *
 * @example
 * ```ts
 * try { parseReference('Busybox'); } catch (err) {
 *   if (err instanceof InvalidReferenceError) console.error(err.data.reference, err.data.reason);
 * }
 * ```
 */
export class InvalidReferenceError extends LayerkitError<'INVALID_REFERENCE', { reference: string; reason: string }> {
  constructor(reference: string, reason: string) {
    super('INVALID_REFERENCE', `invalid reference ${JSON.stringify(reference)}: ${reason}`, { reference, reason });
  }
}

/**
 * A manifest, index or config that is not valid JSON of the right shape, or an
 * image whose parts disagree (layer count vs `diff_ids`, history vs layers).
 *
 * @example
 * ```ts
 * try { parseManifest(bytes); } catch (err) {
 *   if (err instanceof InvalidImageError) console.error(err.data.what, err.data.reason);
 * }
 * ```
 */
export class InvalidImageError extends LayerkitError<'INVALID_IMAGE', { what: string; reason: string }> {
  constructor(what: string, reason: string, options?: { cause?: unknown }) {
    super('INVALID_IMAGE', `invalid ${what}: ${reason}`, { what, reason }, options);
  }
}

/**
 * No image matches a reference (in a store, an OCI layout or a docker-archive).
 *
 * @example
 * ```ts
 * try { await store.getImage('nope'); } catch (err) {
 *   if (err instanceof ImageNotFoundError) console.error(err.data.reference, err.data.available);
 * }
 * ```
 */
export class ImageNotFoundError extends LayerkitError<
  'IMAGE_NOT_FOUND',
  { reference: string; where: string; available: string[] }
> {
  constructor(reference: string, where: string, available: string[] = []) {
    super('IMAGE_NOT_FOUND', `no image ${JSON.stringify(reference)} in ${where}`, { reference, where, available });
  }
}

/**
 * A reference that matches more than one image (an ID prefix shared by
 * several images, a layout holding several images and no reference given).
 *
 * @example
 * ```ts
 * try { await store.getImage('ab'); } catch (err) {
 *   if (err instanceof AmbiguousReferenceError) console.error(err.data.candidates);
 * }
 * ```
 */
export class AmbiguousReferenceError extends LayerkitError<
  'AMBIGUOUS_REFERENCE',
  { reference: string; candidates: string[] }
> {
  constructor(reference: string, candidates: string[]) {
    super(
      'AMBIGUOUS_REFERENCE',
      `reference ${JSON.stringify(reference)} matches ${candidates.length} images: ${candidates.join(', ')}`,
      { reference, candidates },
    );
  }
}

/**
 * A blob that a manifest or index names is not where it should be.
 *
 * @example
 * ```ts
 * try { await image.rawConfig(); } catch (err) {
 *   if (err instanceof BlobNotFoundError) console.error(err.data.digest, err.data.where);
 * }
 * ```
 */
export class BlobNotFoundError extends LayerkitError<'BLOB_NOT_FOUND', { digest: string; where: string }> {
  constructor(digest: string, where: string) {
    super('BLOB_NOT_FOUND', `blob ${digest} not found in ${where}`, { digest, where });
  }
}

/**
 * A layer or blob in a media type (or compression) layerkit cannot read.
 *
 * @example
 * ```ts
 * try { for await (const c of layer.uncompressed()) {} } catch (err) {
 *   if (err instanceof UnsupportedMediaTypeError) console.error(err.data.mediaType);
 * }
 * ```
 */
export class UnsupportedMediaTypeError extends LayerkitError<
  'UNSUPPORTED_MEDIA_TYPE',
  { mediaType: string; reason: string }
> {
  constructor(mediaType: string, reason: string) {
    super('UNSUPPORTED_MEDIA_TYPE', `unsupported media type ${JSON.stringify(mediaType)}: ${reason}`, {
      mediaType,
      reason,
    });
  }
}

/**
 * A tar archive (OCI layout tar, docker-archive) that is malformed or misses
 * a required member. `entry` names the tar member when one is at fault.
 *
 * @example
 * ```ts
 * try { await readDockerArchive('broken.tar'); } catch (err) {
 *   if (err instanceof InvalidArchiveError) console.error(err.data.path, err.data.entry);
 * }
 * ```
 */
export class InvalidArchiveError extends LayerkitError<
  'INVALID_ARCHIVE',
  { path: string; entry?: string; reason: string }
> {
  constructor(path: string, reason: string, entry?: string) {
    super(
      'INVALID_ARCHIVE',
      `invalid archive ${path}${entry === undefined ? '' : ` (entry ${JSON.stringify(entry)})`}: ${reason}`,
      entry === undefined ? { path, reason } : { path, entry, reason },
    );
  }
}

/**
 * A directory that should be an OCI image layout is not one (no `oci-layout`,
 * unsupported version, no `index.json`).
 *
 * @example
 * ```ts
 * try { await readOciLayout('/tmp/x'); } catch (err) {
 *   if (err instanceof InvalidLayoutError) console.error(err.data.path);
 * }
 * ```
 */
export class InvalidLayoutError extends LayerkitError<'INVALID_LAYOUT', { path: string; reason: string }> {
  constructor(path: string, reason: string) {
    super('INVALID_LAYOUT', `invalid OCI image layout ${path}: ${reason}`, { path, reason });
  }
}

/**
 * A store operation refused because of other references (removing an image
 * by ID while several tags point to it, without `force`).
 *
 * @example
 * ```ts
 * try { await store.remove(id); } catch (err) {
 *   if (err instanceof ImageConflictError) await store.remove(id, { force: true });
 * }
 * ```
 */
export class ImageConflictError extends LayerkitError<'IMAGE_CONFLICT', { reference: string; tags: string[] }> {
  constructor(reference: string, tags: string[], reason: string) {
    super('IMAGE_CONFLICT', `cannot remove ${JSON.stringify(reference)}: ${reason}`, { reference, tags });
  }
}

/**
 * The store lock could not be taken in time (another process holds it).
 *
 * @example
 * ```ts
 * try { await store.gc(); } catch (err) {
 *   if (err instanceof StoreLockedError) console.error('held by pid', err.data.holder?.pid);
 * }
 * ```
 */
export class StoreLockedError extends LayerkitError<
  'STORE_LOCKED',
  { lockPath: string; waitedMs: number; holder?: { pid: number; hostname: string } }
> {
  constructor(lockPath: string, waitedMs: number, holder?: { pid: number; hostname: string }) {
    super(
      'STORE_LOCKED',
      `store lock ${lockPath} still held after ${waitedMs} ms${holder ? ` by pid ${holder.pid} on ${holder.hostname}` : ''}`,
      holder ? { lockPath, waitedMs, holder } : { lockPath, waitedMs },
    );
  }
}

/**
 * An export spec such as `type=oci,dest=out.tar` that cannot be understood.
 *
 * @example
 * ```ts
 * try { parseOutputSpec('type=oci'); } catch (err) {
 *   if (err instanceof InvalidOutputSpecError) console.error(err.data.spec, err.data.reason);
 * }
 * ```
 */
export class InvalidOutputSpecError extends LayerkitError<'INVALID_OUTPUT_SPEC', { spec: string; reason: string }> {
  constructor(spec: string, reason: string) {
    super('INVALID_OUTPUT_SPEC', `invalid output ${JSON.stringify(spec)}: ${reason}`, { spec, reason });
  }
}
