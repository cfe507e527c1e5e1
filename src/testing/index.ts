/**
 * `layerkit/testing`: what users need for their own property tests of layer
 * semantics — fast-check arbitraries for entries, trees, layers, union-fs
 * operations and Dockerfiles, and validators that recompute every digest.
 *
 * @example
 * ```ts
 * import fc from 'fast-check';
 * import { layerArbitrary, validateLayer } from 'layerkit/testing';
 *
 * await fc.assert(fc.asyncProperty(layerArbitrary(), async (layer) => {
 *   const report = await validateLayer(layer);
 *   return report.ok;
 * }));
 * ```
 * @module
 */
export * from './layers.js';
export * from './trees.js';
export * from './unionfs.js';
export * from './image.js';
export * from './dockerfile.js';
