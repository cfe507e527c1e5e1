/**
 * Docker's container verbs over a layerkit store: {@link ContainerRuntime}
 * (`create`, `start`, `run`, `stop`, `exec`, `ps`, `logs`, `rm`, `commit`).
 * @module
 */
export { ContainerRuntime, type CreateOptions, type ExitResult, type OutputListener } from './runtime.js';
export type { ContainerConfig, ContainerInfo } from './state.js';
