/**
 * `layerkit/testing`: what users need for their own property tests of layer
 * semantics — fast-check arbitraries and validators that recompute every digest.
 * @module
 */
export {};
