/**
 * Errors of the registry client.
 * @module
 */
import { LayerkitError } from '../errors.js';

/** What can go wrong talking to a registry. */
export type RegistryErrorCode =
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'NOT_FOUND'
  | 'MANIFEST_UNKNOWN'
  | 'BLOB_UNKNOWN'
  | 'DIGEST_MISMATCH'
  | 'TIMEOUT'
  | 'UNREACHABLE'
  | 'TLS'
  | 'INSECURE_REFUSED'
  | 'TOO_MANY_REQUESTS'
  | 'SERVER_ERROR'
  | 'UNSUPPORTED'
  | 'PROTOCOL'
  | 'CREDENTIALS';

/** The facts of a {@link RegistryError}. */
export interface RegistryErrorData {
  /** Registry host as the reference names it: `docker.io`, `localhost:5000`. */
  registry: string;
  repository?: string;
  /** HTTP status of the last response, when there was one. */
  status?: number;
  /** What was being done: `GET manifest latest`, `PUT blob sha256:…`. */
  operation?: string;
  /** The registry's own error codes (`MANIFEST_UNKNOWN`, `DENIED`, …) from its JSON error body. */
  registryCodes?: string[];
  expected?: string;
  actual?: string;
  attempts?: number;
}

/**
 * An error from a registry or the way to it: refused credentials, a missing
 * manifest, a blob whose bytes do not match its digest, a registry that
 * stopped answering. `data.registry` always names the registry.
 *
 * @example
 * ```ts
 * try {
 *   await pull('localhost:5000/app:1', store);
 * } catch (err) {
 *   if (err instanceof RegistryError && err.code === 'UNAUTHORIZED') console.error(err.message); // … run `layerkit login localhost:5000`
 * }
 * ```
 */
export class RegistryError extends LayerkitError<RegistryErrorCode, RegistryErrorData> {}
