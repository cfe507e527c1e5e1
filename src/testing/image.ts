/**
 * `validateImage`: an oracle for tests that recomputes every digest and size
 * an image claims and reports every disagreement, never just the first.
 * @module
 */
import { isDeepStrictEqual } from 'node:util';
import { sha256, type Digest } from '../digest.js';
import { LayerkitError } from '../errors.js';
import { layerMediaTypeFor, type Image } from '../image/image.js';
import { parseImageConfig, parseManifest } from '../image/json.js';
import type { ImageConfig, Manifest } from '../image/types.js';
import { validateLayer, type LayerValidationReport } from './layers.js';

/**
 * What {@link validateImage} can find wrong.
 *
 * @example
 * ```ts
 * const codes: ImageProblemCode[] = (await validateImage(image)).problems.map((p) => p.code);
 * ```
 */
export type ImageProblemCode =
  | 'GETTER_FAILED'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_DIGEST_MISMATCH'
  | 'MEDIA_TYPE_MISMATCH'
  | 'CONFIG_INVALID'
  | 'CONFIG_DIGEST_MISMATCH'
  | 'CONFIG_SIZE_MISMATCH'
  | 'CONFIG_COPY_MISMATCH'
  | 'LAYER_COUNT_MISMATCH'
  | 'DIFF_ID_COUNT_MISMATCH'
  | 'HISTORY_COUNT_MISMATCH'
  | 'LAYER_DIGEST_MISMATCH'
  | 'LAYER_SIZE_MISMATCH'
  | 'LAYER_MEDIA_TYPE_MISMATCH'
  | 'LAYER_DIFF_ID_MISMATCH'
  | 'LAYER_INVALID'
  | 'NOT_IMMUTABLE';

/**
 * One disagreement found by {@link validateImage}.
 *
 * @example
 * ```ts
 * for (const p of (await validateImage(image)).problems) console.error(p.code, p.layer, p.message);
 * ```
 */
export interface ImageProblem {
  code: ImageProblemCode;
  message: string;
  /** Index of the layer concerned, base first. */
  layer?: number;
  expected?: string;
  actual?: string;
}

/**
 * The result of {@link validateImage}: `ok` when `problems` is empty.
 *
 * @example
 * ```ts
 * const report = await validateImage(image);
 * if (!report.ok) console.table(report.problems);
 * ```
 */
export interface ImageValidationReport {
  ok: boolean;
  problems: ImageProblem[];
  /** Recomputed from the bytes. */
  computed: { digest?: Digest; configDigest?: Digest; layers?: number };
  /** {@link validateLayer} of each layer (when `layers` is not false). */
  layers: LayerValidationReport[];
}

/**
 * Options of {@link validateImage}.
 *
 * @example
 * ```ts
 * await validateImage(image, { layers: false }); // manifest/config only, no layer streaming
 * ```
 */
export interface ValidateImageOptions {
  /** Stream and validate every layer too (default true). */
  layers?: boolean;
}

function describe(err: unknown): string {
  return err instanceof LayerkitError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
}

async function settle<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await fn() };
  } catch (error) {
    return { error };
  }
}

/**
 * Checks an image end to end: the manifest bytes hash to `digest()`; the
 * config bytes hash to `configDigest()` and to the manifest's config
 * descriptor (digest and size); `config()`/`manifest()` equal the parsed bytes
 * and are copies; the manifest, `layers()` and `rootfs.diff_ids` have the same
 * count, as do history entries without `empty_layer`; every layer's digest,
 * size, media type and diffID match its descriptor and `diff_ids`, and (unless
 * `layers: false`) each layer passes {@link validateLayer}, which re-reads its
 * streams. Failing getters and streams are problems, not exceptions.
 *
 * @example
 * ```ts
 * const report = await validateImage(image);
 * expect(report.problems).toEqual([]);
 * ```
 */
export async function validateImage(image: Image, options: ValidateImageOptions = {}): Promise<ImageValidationReport> {
  const problems: ImageProblem[] = [];
  const computed: ImageValidationReport['computed'] = {};
  const layerReports: LayerValidationReport[] = [];
  const add = (code: ImageProblemCode, message: string, extra: Partial<ImageProblem> = {}) => problems.push({ code, message, ...extra });
  const getter = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    const r = await settle(fn);
    if (r.error !== undefined) add('GETTER_FAILED', `${name}() failed: ${describe(r.error)}`);
    return r.value;
  };

  /** A document's bytes, hashed and held against the digest the image claims for them. */
  const hashed = async (raw: 'rawManifest' | 'rawConfig', claim: 'digest' | 'configDigest', code: ImageProblemCode) => {
    const bytes = await getter(raw, () => image[raw]());
    const claimed = await getter(claim, () => image[claim]());
    if (!bytes) return undefined;
    const digest = sha256(bytes);
    if (claimed !== undefined && claimed !== digest) add(code, `${claim}() is not sha256(${raw}())`, { expected: claimed, actual: digest });
    return { bytes, digest };
  };

  const manifestBytes = await hashed('rawManifest', 'digest', 'MANIFEST_DIGEST_MISMATCH');
  const rawManifest = manifestBytes?.bytes;
  let manifest: Manifest | undefined;
  if (rawManifest) {
    computed.digest = manifestBytes.digest;
    try {
      manifest = parseManifest(rawManifest);
    } catch (err) {
      add('MANIFEST_INVALID', describe(err));
    }
  }
  if (manifest?.mediaType !== undefined && manifest.mediaType !== image.mediaType) {
    add('MEDIA_TYPE_MISMATCH', 'mediaType differs from the manifest', { expected: manifest.mediaType, actual: image.mediaType });
  }
  const manifestCopy = await getter('manifest', () => image.manifest());
  if (manifest && manifestCopy && !isDeepStrictEqual(manifestCopy, manifest)) {
    add('MANIFEST_INVALID', 'manifest() differs from the parsed rawManifest()');
  }

  const configBytes = await hashed('rawConfig', 'configDigest', 'CONFIG_DIGEST_MISMATCH');
  const rawConfig = configBytes?.bytes;
  let config: ImageConfig | undefined;
  if (rawConfig) {
    computed.configDigest = configBytes.digest;
    if (manifest && manifest.config.digest !== computed.configDigest) {
      add('CONFIG_DIGEST_MISMATCH', 'manifest config descriptor digest is not sha256(rawConfig())', { expected: manifest.config.digest, actual: computed.configDigest });
    }
    if (manifest && manifest.config.size !== rawConfig.byteLength) {
      add('CONFIG_SIZE_MISMATCH', 'manifest config descriptor size is not the config length', { expected: String(manifest.config.size), actual: String(rawConfig.byteLength) });
    }
    try {
      config = parseImageConfig(rawConfig);
    } catch (err) {
      add('CONFIG_INVALID', describe(err));
    }
  }
  const configCopy = await getter('config', () => image.config());
  if (config && configCopy && !isDeepStrictEqual(configCopy, config)) add('CONFIG_COPY_MISMATCH', 'config() differs from the parsed rawConfig()');

  // Copies must be copies: scribbling on them changes nothing.
  if (configCopy && manifestCopy) {
    configCopy.rootfs.diff_ids.push('sha256:scribble');
    configCopy.architecture = 'scribble';
    manifestCopy.layers.pop();
    const [again, againManifest] = await Promise.all([settle(() => image.config()), settle(() => image.manifest())]);
    if (again.value && config && !isDeepStrictEqual(again.value, config)) add('NOT_IMMUTABLE', 'changing the object config() returned changed the image');
    if (againManifest.value && manifest && !isDeepStrictEqual(againManifest.value, manifest)) add('NOT_IMMUTABLE', 'changing the object manifest() returned changed the image');
  }

  const layers = await getter('layers', () => image.layers());
  const diffIds = config?.rootfs.diff_ids;
  if (layers) computed.layers = layers.length;
  if (manifest && layers && manifest.layers.length !== layers.length) {
    add('LAYER_COUNT_MISMATCH', 'layers() and the manifest list different numbers of layers', { expected: String(manifest.layers.length), actual: String(layers.length) });
  }
  if (manifest && diffIds && diffIds.length !== manifest.layers.length) {
    add('DIFF_ID_COUNT_MISMATCH', 'rootfs.diff_ids and the manifest list different numbers of layers', { expected: String(manifest.layers.length), actual: String(diffIds.length) });
  }
  const history = config?.history ?? [];
  if (config && history.length > 0) {
    const withLayer = history.filter((h) => h.empty_layer !== true).length;
    if (withLayer !== config.rootfs.diff_ids.length) {
      add('HISTORY_COUNT_MISMATCH', 'history entries without empty_layer differ from rootfs.diff_ids', { expected: String(config.rootfs.diff_ids.length), actual: String(withLayer) });
    }
  }

  for (const [i, layer] of (layers ?? []).entries()) {
    const descriptor = manifest?.layers[i];
    const [digest, size, diffId] = await Promise.all([settle(() => layer.digest()), settle(() => layer.size()), settle(() => layer.diffId())]);
    for (const [name, r] of [['digest', digest], ['size', size], ['diffId', diffId]] as const) {
      if (r.error !== undefined) add('GETTER_FAILED', `layer ${i} ${name}() failed: ${describe(r.error)}`, { layer: i });
    }
    if (descriptor) {
      if (digest.value !== undefined && digest.value !== descriptor.digest) {
        add('LAYER_DIGEST_MISMATCH', `layer ${i} digest() differs from its manifest descriptor`, { layer: i, expected: descriptor.digest, actual: digest.value });
      }
      if (size.value !== undefined && size.value !== descriptor.size) {
        add('LAYER_SIZE_MISMATCH', `layer ${i} size() differs from its manifest descriptor`, { layer: i, expected: String(descriptor.size), actual: String(size.value) });
      }
      const manifestType = manifest?.mediaType ?? image.mediaType;
      if (layer.mediaType !== descriptor.mediaType && layerMediaTypeFor(manifestType, layer.mediaType) !== descriptor.mediaType) {
        add('LAYER_MEDIA_TYPE_MISMATCH', `layer ${i} mediaType differs from its manifest descriptor`, { layer: i, expected: descriptor.mediaType, actual: layer.mediaType });
      }
    }
    const listed = diffIds?.[i];
    if (listed !== undefined && diffId.value !== undefined && diffId.value !== listed) {
      add('LAYER_DIFF_ID_MISMATCH', `layer ${i} diffId() differs from rootfs.diff_ids[${i}]`, { layer: i, expected: listed, actual: diffId.value });
    }
    if (options.layers !== false) {
      const report = await validateLayer(layer);
      layerReports.push(report);
      for (const p of report.problems) {
        add('LAYER_INVALID', `layer ${i}: ${p.message}`, { layer: i, ...(p.expected !== undefined ? { expected: p.expected } : {}), ...(p.actual !== undefined ? { actual: p.actual } : {}) });
      }
      if (descriptor && report.computed.digest !== undefined && report.computed.digest !== descriptor.digest) {
        add('LAYER_DIGEST_MISMATCH', `layer ${i} blob bytes do not hash to its manifest descriptor`, { layer: i, expected: descriptor.digest, actual: report.computed.digest });
      }
      if (descriptor && report.computed.size !== undefined && report.computed.size !== descriptor.size) {
        add('LAYER_SIZE_MISMATCH', `layer ${i} blob length differs from its manifest descriptor`, { layer: i, expected: String(descriptor.size), actual: String(report.computed.size) });
      }
      if (listed !== undefined && report.computed.diffId !== undefined && report.computed.diffId !== listed) {
        add('LAYER_DIFF_ID_MISMATCH', `layer ${i} tar does not hash to rootfs.diff_ids[${i}]`, { layer: i, expected: listed, actual: report.computed.diffId });
      }
    }
  }
  return { ok: problems.length === 0, problems, computed, layers: layerReports };
}
