/**
 * Docker's container verbs over a layerkit store: {@link ContainerRuntime}
 * (`create`, `start`, `run`, `stop`, `restart`, `pause`, `unpause`, `exec`,
 * `ps`, `logs`, `rm`, `commit`, `cp`, `diff`), the verbs the CLI adds over
 * it (`kill`, `top`, `wait`, logs and sizes), and named volumes and mounts.
 * @module
 */
export { ContainerRuntime, type ExecOptions, type ExitResult } from './runtime.js';
export { parsePublish, type CreateOptions } from './spec.js';
export type { PublishedPort } from '../sandbox/user-network.js';
export type { AttachOptions, OutputListener, TerminalSize } from './attach.js';
export type { ContainerCommitOptions, ContainerCommitResult } from './commit.js';
export { ContainerError, type ContainerErrorCode, type ContainerErrorData } from './errors.js';
export { containerLogs, containerSize, killContainer, topContainer, waitContainer, type ContainerProcess, type LogsOptions } from './verbs.js';
export { formatLogTime, parseLogTime } from './logs.js';
export { listVolumes, parseMountFlag, parseVolumeFlag, prepareMounts, removeVolume, type ContainerMount } from './volumes.js';
export type { ContainerInfo, ContainerSpec } from './state.js';
