/**
 * Squashing: many layers seen as one.
 * @module
 */
import type { Layer } from '../layer.js';
import type { TarMember } from '../tar/read.js';
import { Tree } from '../tree.js';
import { apply, type ApplyOptions } from './apply.js';
import { diff } from './diff.js';
import { toLayer, type ToLayerOptions } from './emit.js';

/** What {@link flatten} and {@link squash} accept as a layer. */
export type LayerInput = Layer | AsyncIterable<TarMember>;

/** Options of {@link flatten}. */
export interface FlattenOptions extends ApplyOptions {
  /** The tree to apply onto (default: empty). It is not modified. */
  base?: Tree;
}

/**
 * Applies `layers` in order (the first is the base layer, as a manifest lists
 * them) and returns the resulting file system: what a container would see.
 *
 * @example
 * ```ts
 * const rootfs = await flatten(image.layers);
 * rootfs.get('/etc/os-release');
 * ```
 */
export async function flatten(layers: Iterable<LayerInput> | AsyncIterable<LayerInput>, options: FlattenOptions = {}): Promise<Tree> {
  let tree = options.base ?? Tree.empty();
  for await (const layer of layers) tree = await apply(tree, layer, options);
  return tree;
}

/** Options of {@link squash}. */
export interface SquashOptions extends FlattenOptions, ToLayerOptions {}

/**
 * One layer equivalent to `layers` applied in order on top of `base` (as
 * `docker build --squash` squashes a build's new layers onto its parent):
 * the diff from `base` to the flattened result, with whiteouts for whatever
 * the layers deleted from `base`. Without a base it holds the whole
 * flattened tree and no whiteouts.
 *
 * @example
 * ```ts
 * const one = await squash(newLayers, { base: await flatten(baseLayers) });
 * ```
 */
export async function squash(layers: Iterable<LayerInput> | AsyncIterable<LayerInput>, options: SquashOptions = {}): Promise<Layer> {
  const base = options.base ?? Tree.empty();
  const result = await flatten(layers, { ...options, base });
  return toLayer(diff(base, result), result, options);
}
