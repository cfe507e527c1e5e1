/**
 * Images: the OCI model (config, manifest, index, history), immutable images
 * with functional mutations, the content-addressed store, references, OCI
 * layouts and docker-archives.
 * @module
 */
export {
  Annotation,
  ImageMediaType,
  isIndexMediaType,
  isManifestMediaType,
  type ContainerConfig,
  type Descriptor,
  type HealthConfig,
  type History,
  type ImageConfig,
  type ImageIndex,
  type Manifest,
  type Platform,
  type RootFS,
} from './types.js';
export {
  AmbiguousReferenceError,
  BlobNotFoundError,
  ImageConflictError,
  ImageNotFoundError,
  InvalidArchiveError,
  InvalidImageError,
  InvalidLayoutError,
  InvalidOutputSpecError,
  InvalidReferenceError,
  StoreLockedError,
  UnsupportedMediaTypeError,
} from './errors.js';
export { canonicalJson, canonicalJsonString, formatTimestamp, parseImageConfig, parseIndex, parseManifest, type DocumentKind } from './json.js';
export { diffImages } from './diff.js';
export { emptyImage, imageFromConfig, type Image, type ImageFromConfigOptions } from './image.js';
export {
  appendHistory,
  appendLayers,
  withConfig,
  withCreated,
  withManifestAnnotations,
  type ConfigUpdate,
  type LayerAddendum,
} from './mutate.js';
export { formatPlatform, hostPlatform, parsePlatform, platformMatches } from './platform.js';
export {
  isValidRefName,
  isValidReference,
  isValidTag,
  parseReference,
  parseTagReference,
  type ImageReference,
  type ParseReferenceOptions,
} from './reference.js';
export {
  listOciLayout,
  readOciLayout,
  writeOciLayout,
  type ImageWithRefs,
  type ReadOciLayoutOptions,
  type WriteOciLayoutOptions,
} from './layout.js';
export type { LayoutEntry } from './layout-source.js';
export {
  listDockerArchive,
  readDockerArchive,
  writeDockerArchive,
  type DockerArchiveEntry,
  type ImageWithTags,
} from './docker-archive.js';
export { parseOutputSpec, writeImageOutput, type OutputSpec } from './output-spec.js';
export { withLayerCompression, type RecompressOptions } from './recompress.js';
export {
  defaultStoreRoot,
  ImageStore,
  type GcOptions,
  type GcResult,
  type ImageStoreOptions,
  type PutImageResult,
  type RemoveResult,
} from './store/store.js';
export type { LockOptions } from './store/lock.js';
export type { ImageHistoryEntry, ImageInspect, ImageSummary } from './store/views.js';
export { asSystemError, NoSpaceError, SystemError } from './store/system-errors.js';
export { makeScratchDir, storeTmp } from './store/scratch.js';
export { loadImages, LoadSourceError, type LoadedImage, type LoadOptions, type LoadResult } from './store/import.js';
