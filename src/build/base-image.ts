/**
 * Base images: what `FROM`, `COPY --from=<image>` and named build contexts
 * refer to, read from where layerkit can read images — the local store, an
 * OCI layout, a docker-archive. There is no registry access.
 *
 * Reference syntax (docs/build.md, "Base images"):
 * - `scratch`: the empty image;
 * - `name[:tag][@digest]` or an image ID: the local store;
 * - `oci-layout://DIR[:tag]` or `oci-layout://DIR@sha256:…`: an OCI image
 *   layout directory (or tar);
 * - `docker-archive://FILE[:ref]`: a `docker save` tarball, `ref` picking
 *   one image when it holds several;
 * - `docker-image://ref` (in `buildContexts`): the same as a plain `ref`.
 * @module
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LayerkitError } from '../errors.js';
import { readDockerArchive } from '../image/docker-archive.js';
import { emptyImage, type Image } from '../image/image.js';
import { readOciLayout } from '../image/layout.js';
import { parseReference } from '../image/reference.js';
import type { ImageStore } from '../image/store/store.js';
import type { Platform } from '../image/types.js';
import { BuildError, type BuildErrorData } from './errors.js';

/** A parsed base image reference. */
export type BaseReference =
  | { kind: 'scratch' }
  | { kind: 'store'; ref: string }
  | { kind: 'oci-layout'; path: string; ref?: string }
  | { kind: 'docker-archive'; path: string; ref?: string };

/**
 * Parses a base image reference (see the module notes for the syntax).
 * `docker-archive://FILE:ref` is split at the first `:` after which FILE
 * names an existing file, so paths with colons still work.
 *
 * @throws {@link BuildError} `INVALID_BASE_REFERENCE` for an empty path or an invalid store reference.
 * @example
 * ```ts
 * await parseBaseReference('oci-layout:///srv/layouts/app:v1'); // { kind: 'oci-layout', path: '/srv/layouts/app', ref: 'v1' }
 * ```
 */
export async function parseBaseReference(value: string, data: BuildErrorData = {}): Promise<BaseReference> {
  if (value === 'scratch') return { kind: 'scratch' };
  if (value.startsWith('docker-image://')) return storeReference(value.slice('docker-image://'.length), value, data);
  if (value.startsWith('oci-layout://')) {
    const rest = value.slice('oci-layout://'.length);
    const at = rest.lastIndexOf('@');
    let path = rest;
    let ref: string | undefined;
    if (at >= 0 && rest.slice(at + 1).includes(':')) {
      path = rest.slice(0, at);
      ref = rest.slice(at + 1);
    } else {
      const colon = rest.lastIndexOf(':');
      if (colon > rest.lastIndexOf('/')) {
        path = rest.slice(0, colon);
        ref = rest.slice(colon + 1);
      }
    }
    if (path === '') throw invalid(value, 'oci-layout:// needs a directory', data);
    return ref === undefined || ref === '' ? { kind: 'oci-layout', path } : { kind: 'oci-layout', path, ref };
  }
  if (value.startsWith('docker-archive://')) {
    const rest = value.slice('docker-archive://'.length);
    if (rest === '') throw invalid(value, 'docker-archive:// needs a file', data);
    if (await isFile(rest)) return { kind: 'docker-archive', path: rest };
    for (let i = rest.indexOf(':'); i > 0; i = rest.indexOf(':', i + 1)) {
      if (await isFile(rest.slice(0, i))) return { kind: 'docker-archive', path: rest.slice(0, i), ref: rest.slice(i + 1) };
    }
    return { kind: 'docker-archive', path: rest };
  }
  return storeReference(value, value, data);
}

/**
 * An image ID as FROM accepts one: `sha256:` and at least four hex digits,
 * or a bare short ID (twelve digits, as `docker images` prints) or longer.
 * Anything else is a name — `FROM b`, a stage typo, must not pick an image
 * whose ID happens to start with `b`.
 */
const IMAGE_ID = /^(?:sha256:[a-f0-9]{4,64}|[a-f0-9]{12,64})$/;

function storeReference(ref: string, written: string, data: BuildErrorData): BaseReference {
  if (IMAGE_ID.test(ref)) return { kind: 'store', ref };
  try {
    parseReference(ref);
  } catch (err) {
    throw new BuildError('INVALID_BASE_REFERENCE', `failed to parse stage name "${written}": ${(err as Error).message}`, { ...data, reference: written }, { cause: err });
  }
  return { kind: 'store', ref };
}

function invalid(value: string, reason: string, data: BuildErrorData): BuildError {
  return new BuildError('INVALID_BASE_REFERENCE', `invalid image reference ${JSON.stringify(value)}: ${reason}`, { ...data, reference: value, reason });
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

/**
 * Loads a base image. Store images are looked up in `store`; a missing
 * image is a `BASE_IMAGE_NOT_FOUND` error that says there is no registry.
 *
 * @throws {@link BuildError} `BASE_IMAGE_NOT_FOUND`, `INVALID_BASE_REFERENCE`.
 * @example
 * ```ts
 * const image = await loadBaseImage(await parseBaseReference('alpine:3.20'), store, { os: 'linux', architecture: 'amd64' });
 * ```
 */
export async function loadBaseImage(
  reference: BaseReference,
  store: ImageStore,
  platform: Platform,
  data: BuildErrorData = {},
): Promise<Image> {
  try {
    switch (reference.kind) {
      case 'scratch':
        return emptyImage(platform);
      case 'store':
        // A name is looked up in its canonical spelling (docker.io/library/b:latest), which is never read as an ID prefix.
        return await store.getImage(IMAGE_ID.test(reference.ref) ? reference.ref : parseReference(reference.ref).canonical);
      case 'oci-layout':
        return await readOciLayout(resolve(reference.path), reference.ref, { platform });
      case 'docker-archive':
        return await readDockerArchive(resolve(reference.path), reference.ref);
    }
  } catch (err) {
    if (err instanceof LayerkitError && (err.code === 'IMAGE_NOT_FOUND' || err.code === 'ENOENT' || (err as { code?: string }).code === 'INVALID_LAYOUT' || err.code === 'INVALID_ARCHIVE')) {
      throw notFound(reference, store, data, err);
    }
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(reference, store, data, err);
    throw err;
  }
}

function notFound(reference: BaseReference, store: ImageStore, data: BuildErrorData, cause: unknown): BuildError {
  const why = cause instanceof Error ? cause.message : String(cause);
  let message: string;
  switch (reference.kind) {
    case 'store':
      message =
        `image "${reference.ref}" is not in the local store (${store.root}); layerkit has no registry access: ` +
        `put it there first (ImageStore.putImage, a docker-archive:// or oci-layout:// reference, or a named build context)`;
      break;
    case 'oci-layout':
      message = `cannot read image ${reference.ref === undefined ? '' : `"${reference.ref}" `}from OCI layout ${reference.path}: ${why}`;
      break;
    case 'docker-archive':
      message = `cannot read image ${reference.ref === undefined ? '' : `"${reference.ref}" `}from docker-archive ${reference.path}: ${why}`;
      break;
    default:
      message = why;
  }
  return new BuildError('BASE_IMAGE_NOT_FOUND', message, { ...data, reference: describe(reference) }, { cause });
}

function describe(reference: BaseReference): string {
  switch (reference.kind) {
    case 'scratch':
      return 'scratch';
    case 'store':
      return reference.ref;
    default:
      return `${reference.kind}://${reference.path}${reference.ref === undefined ? '' : `:${reference.ref}`}`;
  }
}
