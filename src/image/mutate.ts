/**
 * Functional mutations: each takes an image and returns a new one. Nothing is
 * computed until the new image is used; the base image is never changed.
 * @module
 */
import type { Layer } from '../layers/layer.js';
import { InvalidImageError } from './errors.js';
import { assemble, imageParts, LazyImage, type Image } from './image.js';
import { formatTimestamp } from './json.js';
import type { ContainerConfig, History, ImageConfig } from './types.js';

/**
 * A layer to append, with the history entry that explains it.
 *
 * @example
 * ```ts
 * appendLayers(base, { layer, history: { created_by: 'RUN make', created: '2024-01-01T00:00:00Z' } });
 * ```
 */
export interface LayerAddendum {
  layer: Layer;
  /** History entry for the layer (`empty_layer` must not be true). Default `{}`. */
  history?: History;
}

function isAddendum(value: Layer | LayerAddendum): value is LayerAddendum {
  return 'layer' in value && typeof (value as LayerAddendum).layer === 'object';
}

// An image that has layers but no history gets one blank entry per layer, so
// that appending history keeps count(history with a layer) == count(layers).
function historyFor(config: ImageConfig): History[] {
  const history = config.history ?? [];
  if (history.length === 0 && config.rootfs.diff_ids.length > 0) return config.rootfs.diff_ids.map(() => ({}));
  return history;
}

function derive(base: Image, change: (config: ImageConfig, layers: Layer[], annotations?: Record<string, string>) => Promise<{
  config: ImageConfig;
  layers: Layer[];
  annotations?: Record<string, string> | undefined;
}>): Image {
  return new LazyImage(base.mediaType, async () => {
    const parts = await imageParts(base);
    const next = await change(structuredClone(parts.config), [...parts.layers], parts.manifest.annotations ? { ...parts.manifest.annotations } : undefined);
    return assemble(base.mediaType, next.config, next.layers, next.annotations);
  });
}

/**
 * Appends layers on top of an image, each with its history entry. The
 * config gets the layers' diffIDs in `rootfs.diff_ids` and the entries in
 * `history`.
 *
 * @throws {@link InvalidImageError} at once for a history entry marked `empty_layer`.
 * @example
 * ```ts
 * const image = appendLayers(emptyImage(), { layer, history: { created_by: 'COPY app /app' } });
 * ```
 */
export function appendLayers(base: Image, ...addenda: Array<Layer | LayerAddendum>): Image {
  const items = addenda.map((a) => (isAddendum(a) ? { layer: a.layer, history: { ...(a.history ?? {}) } } : { layer: a, history: {} }));
  for (const [i, item] of items.entries()) {
    if (item.history.empty_layer === true) {
      throw new InvalidImageError('history', `entry ${i} for an appended layer cannot be empty_layer`);
    }
    delete item.history.empty_layer;
  }
  if (items.length === 0) return base;
  return derive(base, async (config, layers, annotations) => {
    const history = historyFor(config);
    for (const item of items) {
      config.rootfs.diff_ids.push(await item.layer.diffId());
      history.push(item.history);
      layers.push(item.layer);
    }
    config.history = history;
    return { config, layers, annotations };
  });
}

/**
 * Appends history entries that made no layer (ENV, CMD, LABEL…): each gets
 * `empty_layer: true`.
 *
 * @example
 * ```ts
 * const image = appendHistory(base, { created_by: 'ENV PATH=/usr/bin', comment: 'buildkit.dockerfile.v0' });
 * ```
 */
export function appendHistory(base: Image, ...entries: History[]): Image {
  const copies = entries.map((e) => ({ ...structuredClone(e), empty_layer: true }));
  if (copies.length === 0) return base;
  return derive(base, async (config, layers, annotations) => {
    config.history = [...historyFor(config), ...copies];
    return { config, layers, annotations };
  });
}

/**
 * What {@link withConfig} merges: top-level members, and `config` member by member.
 *
 * @example
 * ```ts
 * const update: ConfigUpdate = { author: 'me', config: { WorkingDir: '/app' } };
 * withConfig(base, update);
 * ```
 */
export type ConfigUpdate = Omit<Partial<ImageConfig>, 'config' | 'rootfs'> & { config?: Partial<ContainerConfig> };

function applyUpdate(config: ImageConfig, update: ConfigUpdate): ImageConfig {
  for (const [key, value] of Object.entries(structuredClone(update))) {
    if (key === 'config') continue;
    if (key === 'rootfs') throw new InvalidImageError('config update', 'rootfs cannot be changed; use appendLayers');
    if (value === undefined) delete config[key];
    else config[key] = value;
  }
  if (update.config !== undefined) {
    const container: ContainerConfig = { ...(config.config ?? {}) };
    for (const [key, value] of Object.entries(structuredClone(update.config))) {
      if (value === undefined) delete container[key];
      else container[key] = value;
    }
    config.config = container;
  }
  return config;
}

/**
 * Changes the config. Either a partial config (top-level members replaced,
 * `config` merged member by member, `undefined` deletes) or a function that
 * gets a deep copy and returns the new config (or changes the copy in place).
 * `rootfs` cannot change: layers come only through {@link appendLayers}.
 *
 * @throws {@link InvalidImageError} at once when a partial touches `rootfs`;
 * when the image is used if a function changes `rootfs` or breaks the history invariant.
 * @example
 * ```ts
 * const a = withConfig(base, { config: { Cmd: ['sh'], Env: ['A=1'] } });
 * const b = withConfig(base, (c) => { c.author = 'me'; });
 * ```
 */
export function withConfig(base: Image, update: ConfigUpdate | ((config: ImageConfig) => ImageConfig | void)): Image {
  if (typeof update !== 'function' && 'rootfs' in update) {
    throw new InvalidImageError('config update', 'rootfs cannot be changed; use appendLayers');
  }
  const frozen = typeof update === 'function' ? update : structuredClone(update);
  return derive(base, async (config, layers, annotations) => {
    const before = JSON.stringify(config.rootfs);
    const next = typeof frozen === 'function' ? (frozen(config) ?? config) : applyUpdate(config, frozen);
    if (JSON.stringify(next.rootfs) !== before) {
      throw new InvalidImageError('config update', 'rootfs cannot be changed; use appendLayers');
    }
    return { config: next, layers, annotations };
  });
}

/**
 * Sets the config's `created` time (RFC 3339, Go's formatting for a Date).
 *
 * @throws {@link InvalidImageError} for an invalid date or a string that is not RFC 3339.
 * @example
 * ```ts
 * const image = withCreated(base, new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000));
 * ```
 */
export function withCreated(base: Image, created: Date | string): Image {
  const value = typeof created === 'string' ? checkRfc3339(created) : formatTimestamp(created);
  return derive(base, async (config, layers, annotations) => {
    config.created = value;
    return { config, layers, annotations };
  });
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function checkRfc3339(value: string): string {
  if (!RFC3339.test(value) || Number.isNaN(Date.parse(value))) {
    throw new InvalidImageError('timestamp', `${JSON.stringify(value)} is not an RFC 3339 time`);
  }
  return value;
}

/**
 * Sets manifest annotations (merged over the base's; `undefined` deletes).
 *
 * @example
 * ```ts
 * const image = withManifestAnnotations(base, { 'org.opencontainers.image.base.name': 'docker.io/library/alpine:3.20' });
 * ```
 */
export function withManifestAnnotations(base: Image, annotations: Record<string, string | undefined>): Image {
  const copy = { ...annotations };
  return derive(base, async (config, layers, current) => {
    const next: Record<string, string> = { ...(current ?? {}) };
    for (const [k, v] of Object.entries(copy)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    return { config, layers, annotations: next };
  });
}
