/**
 * `docker import`: a root file system tarball (plain or compressed) as a
 * one-layer image, with Dockerfile-style `--change` lines applied to its
 * config (`CMD`, `ENTRYPOINT`, `ENV`, `WORKDIR`, `USER`, `LABEL`,
 * `EXPOSE`, `VOLUME`, `STOPSIGNAL`).
 * @module
 */
import { DockerfileSyntaxError } from '../dockerfile/errors.js';
import { parseInstructions } from '../dockerfile/instructions/parse.js';
import type { Instruction } from '../dockerfile/instructions/types.js';
import { parseDockerfile } from '../dockerfile/syntax/parser.js';
import type { Layer } from '../layers/layer.js';
import { LayerkitError } from '../errors.js';
import { emptyImage, type Image } from '../image/image.js';
import { appendLayers, withConfig } from '../image/mutate.js';
import { hostPlatform } from '../image/platform.js';
import type { ContainerConfig, Platform } from '../image/types.js';

/**
 * A `--change` line that is not one of the instructions `docker import`
 * applies, or does not parse.
 *
 * @example
 * ```ts
 * try { await importRootfs(layer, { changes: ['RUN true'] }); } catch (err) {
 *   if (err instanceof ImportChangeError) console.error(err.data.change);
 * }
 * ```
 */
export class ImportChangeError extends LayerkitError<'INVALID_CHANGE', { change: string; reason: string }> {
  constructor(change: string, reason: string) {
    super('INVALID_CHANGE', `--change ${JSON.stringify(change)}: ${reason}`, { change, reason });
  }
}

/**
 * Options of {@link importRootfs}.
 *
 * @example
 * ```ts
 * const options: ImportOptions = { changes: ['CMD ["/bin/sh"]', 'ENV LANG=C.UTF-8'], message: 'from debootstrap' };
 * ```
 */
export interface ImportOptions {
  /** Dockerfile instructions applied to the config, in order. */
  changes?: readonly string[];
  /** The history entry's comment (`docker import -m`). */
  message?: string;
  /** The image's platform (default the host's). */
  platform?: Platform;
  /** The config's `created` and the history time (default now). */
  created?: Date;
}

const CHANGES = new Set(['cmd', 'entrypoint', 'env', 'workdir', 'user', 'label', 'expose', 'volume', 'stopsignal', 'onbuild']);

function argv(command: { shell: string } | { exec: string[] }): string[] {
  return 'exec' in command ? command.exec : ['/bin/sh', '-c', command.shell];
}

function apply(container: ContainerConfig, ins: Instruction): void {
  switch (ins.kind) {
    case 'cmd':
      container.Cmd = argv(ins.command);
      break;
    case 'entrypoint':
      container.Entrypoint = argv(ins.command);
      break;
    case 'env':
      for (const { key, value } of ins.env) container.Env = [...(container.Env ?? []).filter((e) => !e.startsWith(`${key}=`)), `${key}=${value}`];
      break;
    case 'workdir':
      container.WorkingDir = ins.path;
      break;
    case 'user':
      container.User = ins.user;
      break;
    case 'label':
      for (const { key, value } of ins.labels) container.Labels = { ...(container.Labels ?? {}), [key]: value };
      break;
    case 'expose':
      for (const port of ins.ports) container.ExposedPorts = { ...(container.ExposedPorts ?? {}), [port.includes('/') ? port : `${port}/tcp`]: {} };
      break;
    case 'volume':
      for (const v of ins.volumes) container.Volumes = { ...(container.Volumes ?? {}), [v]: {} };
      break;
    case 'stopsignal':
      container.StopSignal = ins.signal;
      break;
    case 'onbuild':
      container.OnBuild = [...(container.OnBuild ?? []), ins.expression];
      break;
    default:
      break;
  }
}

/** Parses one `--change` line into its instruction. */
function parseChange(change: string): Instruction {
  let parsed;
  try {
    parsed = parseInstructions(parseDockerfile(`FROM scratch\n${change}\n`));
  } catch (err) {
    if (err instanceof DockerfileSyntaxError || err instanceof LayerkitError) throw new ImportChangeError(change, err.message);
    throw err;
  }
  const instructions = parsed.stages[0]?.instructions ?? [];
  const ins = instructions[0];
  if (instructions.length !== 1 || ins === undefined) throw new ImportChangeError(change, 'expected exactly one instruction');
  if (!CHANGES.has(ins.kind)) throw new ImportChangeError(change, `${ins.kind.toUpperCase()} is not a change docker import applies (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)`);
  return ins;
}

/**
 * A one-layer image of a root file system, as `docker import` makes it.
 * Every `--change` is checked before anything else happens.
 *
 * @throws {@link ImportChangeError} for a change that does not parse or is not allowed.
 * @example
 * ```ts
 * const image = importRootfs(layerFromTarFile('rootfs.tar.gz'), { changes: ['CMD ["/bin/sh"]'] });
 * await store.putImage(image, 'debian:mine');
 * ```
 */
export function importRootfs(layer: Layer, options: ImportOptions = {}): Image {
  const instructions = (options.changes ?? []).map(parseChange);
  const created = (options.created ?? new Date()).toISOString();
  const base = withConfig(emptyImage(options.platform ?? hostPlatform()), (config) => {
    const container: ContainerConfig = { ...(config.config ?? {}) };
    for (const ins of instructions) apply(container, ins);
    config.config = container;
    config.created = created;
  });
  return appendLayers(base, { layer, history: { created, created_by: '', ...(options.message ? { comment: options.message } : {}) } });
}
