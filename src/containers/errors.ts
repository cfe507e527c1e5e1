/**
 * Typed errors of the container verbs: what was asked of a container that
 * its state, its name or this machine does not allow. Failures of the
 * sandbox itself (namespaces, mounts) stay {@link SandboxError}s.
 * @module
 */
import { LayerkitError } from '../errors.js';

/**
 * The codes a {@link ContainerError} can carry.
 *
 * @example
 * ```ts
 * const retryLater: ContainerErrorCode[] = ['CONTAINER_RUNNING', 'CONTAINER_PAUSED'];
 * ```
 */
export type ContainerErrorCode =
  /** No container has that name, id or id prefix. */
  | 'CONTAINER_NOT_FOUND'
  /** The name is taken by another container. */
  | 'NAME_IN_USE'
  /** A name Docker would refuse (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`). */
  | 'INVALID_NAME'
  /** The image has no Entrypoint or Cmd and none was given. */
  | 'NO_COMMAND'
  /** `-u` names a user or group the image's /etc/passwd or /etc/group does not have. */
  | 'UNKNOWN_USER'
  /** The verb needs a running container (exec, pause). */
  | 'CONTAINER_NOT_RUNNING'
  /** The verb needs a stopped container (start, rm without force). */
  | 'CONTAINER_RUNNING'
  /** The container is paused (exec; start). */
  | 'CONTAINER_PAUSED'
  /** The container is not paused (unpause). */
  | 'CONTAINER_NOT_PAUSED'
  /** Pausing needs the container in a cgroup v2 of its own, with a writable `cgroup.freeze`. */
  | 'FREEZER_UNAVAILABLE'
  /** A `cp` source or destination that cannot be used (missing, a directory onto a file…). */
  | 'COPY_INVALID'
  /** `-u` gives a uid or gid outside 0…2147483647 (runc's range). */
  | 'INVALID_USER_ID'
  /** `-p` or `--network` that cannot be had (a port without a user-mode network, a port in use). */
  | 'NETWORK_UNAVAILABLE'
  /** A `-p` that is not `[IP:]HOST:CONTAINER[/tcp|udp]`, or a `--hostname` that is not a host name. */
  | 'INVALID_OPTION';

/**
 * Facts carried by a {@link ContainerError}.
 *
 * @example
 * ```ts
 * if (err instanceof ContainerError) console.error(err.data.container, err.data.reason);
 * ```
 */
export interface ContainerErrorData {
  /** The container as named by the caller. */
  container?: string;
  /** A path involved (inside the container, on the host, or a cgroup directory). */
  path?: string;
  /** Why, in a few words. */
  reason?: string;
}

/**
 * An error of {@link ContainerRuntime} (see {@link ContainerErrorCode}).
 *
 * @example
 * ```ts
 * try {
 *   await runtime.pause('web');
 * } catch (err) {
 *   if (err instanceof ContainerError && err.code === 'FREEZER_UNAVAILABLE') console.error(err.data.reason);
 * }
 * ```
 */
export class ContainerError extends LayerkitError<ContainerErrorCode, ContainerErrorData> {}
