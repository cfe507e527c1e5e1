/**
 * Base images: what `FROM`, `COPY --from=<image>` and named build contexts
 * refer to, read from where layerkit can read images — the local store, a
 * registry, an OCI layout, a docker-archive.
 *
 * Reference syntax (docs/build.md, "Base images"):
 * - `scratch`: the empty image;
 * - `name[:tag][@digest]`: the local store when it has the reference (for
 *   the platform asked for), else its registry (`pull` always asks the
 *   registry); an image ID or ID prefix: the local store only;
 * - `oci-layout://DIR[:tag]` or `oci-layout://DIR@sha256:…`: an OCI image
 *   layout directory (or tar);
 * - `docker-archive://FILE[:ref]`: a `docker save` tarball, `ref` picking
 *   one image when it holds several;
 * - `docker-image://ref` (in `buildContexts`): the same as a plain `ref`.
 *
 * Platforms: when the build names one (`platform`, `platforms`, `FROM
 * --platform`), a store image of another platform is not used (the registry
 * is asked for the right one) — never an image labelled with a platform it
 * is not.
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
import { formatPlatform, platformMatches } from '../image/platform.js';
import { BuildError, type BuildErrorData } from './errors.js';
import { resolveRegistryBase, type RemoteBaseContext, type ResolvedBase } from './remote-base.js';

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

/** How {@link resolveBase} finds images. */
export interface ResolveBaseOptions {
  store: ImageStore;
  /** The platform of the stage. */
  platform: Platform;
  /** True when the build named the platform (then a store image of another platform is not used). */
  explicitPlatform: boolean;
  /** Ask the registry even when the store has the reference. */
  pull: boolean;
  /** The registry side, made on first use (none: store only). */
  remote?: () => RemoteBaseContext;
  onStore?: (reference: string, digest: string) => void;
}

/** True for a store reference that is an image ID (or prefix), which no registry knows. */
function isImageId(ref: string): boolean {
  return IMAGE_ID.test(ref);
}

/**
 * Finds a base image's config and layers: the local store (unless
 * `pull`), else the registry; layouts and archives from their files.
 *
 * @throws {@link BuildError} `BASE_IMAGE_NOT_FOUND`, `BASE_PLATFORM_MISMATCH`,
 * `BASE_IMAGE_PULL_FAILED`, `INVALID_BASE_REFERENCE`.
 * @example
 * ```ts
 * const base = await resolveBase(await parseBaseReference('alpine:3.20'), { store, platform, explicitPlatform: false, pull: false });
 * ```
 */
export async function resolveBase(reference: BaseReference, options: ResolveBaseOptions, data: BuildErrorData = {}): Promise<ResolvedBase> {
  if (reference.kind !== 'store' || isImageId(reference.ref) || options.remote === undefined) {
    const image = await loadBaseImage(reference, options.store, options.platform, data);
    const [config, layers, digest] = await Promise.all([image.config(), image.layers(), image.configDigest()]);
    if (reference.kind === 'store' && options.explicitPlatform) checkPlatform(reference.ref, config, options.platform, data);
    return { config, layers, digest };
  }
  let local: { config: Awaited<ReturnType<Image['config']>>; image: Image } | undefined;
  if (!options.pull) {
    try {
      const image = await options.store.getImage(parseReference(reference.ref).canonical);
      local = { config: await image.config(), image };
    } catch (err) {
      if (!(err instanceof LayerkitError && err.code === 'IMAGE_NOT_FOUND')) throw err;
    }
    if (local && (!options.explicitPlatform || platformOf(local.config) === undefined || platformMatches(options.platform, platformOf(local.config)!))) {
      const [layers, digest] = await Promise.all([local.image.layers(), local.image.configDigest()]);
      options.onStore?.(reference.ref, await local.image.digest());
      return { config: local.config, layers, digest };
    }
  }
  try {
    return await resolveRegistryBase(options.remote(), reference.ref, options.platform, data);
  } catch (err) {
    const found = local ? platformOf(local.config) : undefined;
    if (found && err instanceof BuildError && (err.code === 'BASE_IMAGE_NOT_FOUND' || err.code === 'BASE_PLATFORM_MISMATCH' || err.code === 'BASE_IMAGE_PULL_FAILED')) {
      throw new BuildError(
        'BASE_PLATFORM_MISMATCH',
        `image "${reference.ref}" in the local store is ${formatPlatform(found)}, not ${formatPlatform(options.platform)}, and its registry has none: ${err.message}`,
        { ...data, reference: reference.ref, reason: formatPlatform(found) },
        { cause: err },
      );
    }
    throw err;
  }
}

function platformOf(config: { os?: string; architecture?: string; variant?: string }): Platform | undefined {
  if (!config.os || !config.architecture) return undefined;
  return config.variant ? { os: config.os, architecture: config.architecture, variant: config.variant } : { os: config.os, architecture: config.architecture };
}

function checkPlatform(ref: string, config: { os?: string; architecture?: string; variant?: string }, platform: Platform, data: BuildErrorData): void {
  const found = platformOf(config);
  if (found && !platformMatches(platform, found)) {
    throw new BuildError('BASE_PLATFORM_MISMATCH', `image "${ref}" is ${formatPlatform(found)}, not ${formatPlatform(platform)}`, { ...data, reference: ref, reason: formatPlatform(found) });
  }
}

/**
 * Loads a base image from the store, a layout or an archive (no registry:
 * {@link resolveBase} adds it). A missing image is `BASE_IMAGE_NOT_FOUND`.
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
      message = isImageId(reference.ref)
        ? `no image with ID ${reference.ref} in the local store (${store.root})`
        : `image "${reference.ref}" is not in the local store (${store.root})`;
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
