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
export {
  encodeRawTar,
  entryArbitrary,
  layerArbitrary,
  nameArbitrary,
  patternSource,
  rawTarArbitrary,
  treeArbitrary,
  validateLayer,
  type EntryArbitraryOptions,
  type LayerProblem,
  type LayerProblemCode,
  type LayerValidationReport,
  type RawTarMember,
  type TreeArbitraryOptions,
} from './layers.js';
export {
  applyTreeEdits,
  fileTreeArbitrary,
  snapshotTree,
  treeEditsArbitrary,
  treeEvolutionArbitrary,
  type FileTreeArbitraryOptions,
  type TreeEdit,
  type TreeSnapshotRow,
} from './trees.js';
export {
  hostFs,
  lowerLayersArbitrary,
  observeFs,
  runUnionOp,
  statType,
  unionOpArbitrary,
  UnionOpCommand,
  unionOpsArbitrary,
  type FsLike,
  type Observation,
  type ObservedNode,
  type ObserveOptions,
  type StatLike,
  type UnionArbitraryOptions,
  type UnionOp,
  type UnionOpOutcome,
} from './unionfs.js';
export { validateImage, type ImageProblem, type ImageProblemCode, type ImageValidationReport, type ValidateImageOptions } from './image.js';
export {
  dockerfileArbitrary,
  dockerfileLikeTextArbitrary,
  shellEnvArbitrary,
  shellWordArbitrary,
  type DockerfileArbitraryOptions,
  type DockerfileEscapeToken,
  type ShellWordArbitraryOptions,
} from './dockerfile.js';
