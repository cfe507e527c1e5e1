/**
 * Registries: a client of the OCI Distribution API (v2) — manifests and
 * indexes with platform selection, verified and resumable blob transfers,
 * cross-repository mounts, Basic and bearer-token authentication with
 * Docker's credentials — and `pull` / `push` between a registry and the store.
 * @module
 */
export { RegistryError, type RegistryErrorCode, type RegistryErrorData } from './errors.js';
export type { RegistryEvent } from './events.js';
export { RegistryClient, MANIFEST_ACCEPT, type BlobUpload, type ManifestResult, type RegistryOptions } from './client.js';
export type { TransportOptions } from './transport.js';
export { isRemoteLayer, type RemoteImage, type RemoteLayer, type RemoteLayerSource } from './remote-image.js';
export { pull, push, login, logout, type LoginOptions, type PullResult, type PushResult } from './transfer.js';
export {
  findCredentials,
  readDockerConfig,
  type Credentials,
  type DockerAuthEntry,
  type DockerConfig,
} from './credentials.js';
export { parseChallenges, type Challenge } from './auth.js';
export { apiHost, isLoopback } from './hosts.js';
