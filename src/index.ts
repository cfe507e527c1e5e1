/**
 * layerkit: layered filesystems and container image builds in TypeScript.
 *
 * Each module re-exports its public surface from its own index; this file
 * only gathers them.
 * @module
 */
export * from './errors.js';
export * from './digest.js';
export * from './dockerfile/index.js';
export * from './layers/index.js';
export * from './unionfs/index.js';
export * from './image/index.js';
export * from './registry/index.js';
export * from './build/index.js';
