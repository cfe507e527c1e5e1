/**
 * What a container runs, fixed at `create`: the image's config with
 * `docker create`'s options applied, as Docker fills them in.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Image } from '../image/image.js';
import { UnionFS } from '../unionfs/union.js';
import { ContainerError } from './errors.js';
import type { ContainerSpec } from './state.js';
import type { ContainerMount } from './volumes.js';
import { mergeEnv, resolveUser } from './user.js';
import type { PublishedPort } from '../sandbox/user-network.js';

/**
 * Options of {@link ContainerRuntime.create}.
 *
 * @example
 * ```ts
 * const options: CreateOptions = { name: 'web', cmd: ['httpd', '-f'], env: ['PORT=8080'], network: 'host' };
 * ```
 */
export interface CreateOptions {
  /** `--name` (default: the id's first 12 characters). */
  name?: string;
  /** Replaces the image's Cmd (the arguments after the image in `docker run`). */
  cmd?: string[];
  /** Replaces the image's Entrypoint (and drops its Cmd unless `cmd` is given). */
  entrypoint?: string[];
  /** `-e K=V`, added to the image's Env. */
  env?: string[];
  /** `-w`. */
  workdir?: string;
  /** `-u user[:group]` (names from the image's /etc/passwd and /etc/group). */
  user?: string;
  /**
   * `--network`: `bridge` (default: a namespace of its own reaching out
   * through slirp4netns, the host's loopback not reachable), `host`, or
   * `none` (only a loopback).
   */
  network?: 'bridge' | 'host' | 'none';
  /** `-p`: ports published on the host (`bridge` only). */
  ports?: PublishedPort[];
  /** `--hostname` (default: the short ID, as Docker). */
  hostname?: string;
  /** `-v`/`--mount`: host directories, named volumes, tmpfs (see `volumes.ts`). */
  mounts?: ContainerMount[];
  /** `--init`: a static init (the host's docker-init or tini-static) runs as PID 1, reaping zombies and forwarding signals. */
  init?: boolean;
  /** `-t`: the container is meant to run on a terminal (adds `TERM=xterm`, as Docker). */
  tty?: boolean;
  /** `--rm`: remove the container when it exits. */
  autoRemove?: boolean;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** RFC 1123 host names, at most 64 bytes (the kernel's limit). */
const HOSTNAME = /^(?=.{1,64}$)[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/;

/**
 * `-p [IP:]HOST:CONTAINER[/tcp|udp]` (Docker's syntax; a host port is
 * required: nothing picks a free one).
 *
 * @throws {@link ContainerError} `INVALID_OPTION`
 * @example
 * ```ts
 * parsePublish('127.0.0.1:8080:80'); // { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }
 * parsePublish('5353:53/udp');       // { hostPort: 5353, containerPort: 53, protocol: 'udp' }
 * ```
 */
export function parsePublish(text: string): PublishedPort {
  const bad = (why: string) => new ContainerError('INVALID_OPTION', `invalid -p ${JSON.stringify(text)}: ${why}`, { reason: why });
  const [spec = '', protocol = 'tcp', ...extra] = text.split('/');
  if (extra.length > 0 || (protocol !== 'tcp' && protocol !== 'udp')) throw bad('the protocol must be tcp or udp');
  const colon = spec.lastIndexOf(':');
  if (colon < 0) throw bad('expected [IP:]HOST:CONTAINER (a host port is required)');
  const containerText = spec.slice(colon + 1);
  const rest = spec.slice(0, colon);
  const at = rest.lastIndexOf(':');
  let hostIp = at < 0 ? undefined : rest.slice(0, at);
  const hostText = at < 0 ? rest : rest.slice(at + 1);
  if (hostIp !== undefined && /^\[.*\]$/.test(hostIp)) hostIp = hostIp.slice(1, -1);
  const port = (p: string, what: string) => {
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) throw bad(`the ${what} port must be 1…65535`);
    return Number(p);
  };
  if (hostIp !== undefined && !/^[0-9.]+$|^[0-9a-fA-F:]+$/.test(hostIp)) throw bad('the host address must be an IP address');
  return { ...(hostIp ? { hostIp } : {}), hostPort: port(hostText, 'host'), containerPort: port(containerText, 'container'), protocol };
}

/**
 * The spec of a new container of `image` (named `reference` by the caller):
 * argv from Entrypoint + Cmd (a given `entrypoint` drops the image's Cmd),
 * Env merged with Docker's default PATH, WorkingDir (`/` when none), User
 * resolved against the image's /etc/passwd and /etc/group, `TERM=xterm`
 * for a terminal.
 *
 * @throws {@link ContainerError} `NO_COMMAND`, `INVALID_NAME`, `UNKNOWN_USER`.
 * @example
 * ```ts
 * const spec = await containerSpec(await store.getImage('app:1'), 'app:1', { env: ['MODE=dev'] });
 * ```
 */
export async function containerSpec(img: Image, reference: string, options: CreateOptions): Promise<ContainerSpec> {
  const config = (await img.config()).config ?? {};
  const entrypoint = options.entrypoint ?? config.Entrypoint ?? [];
  const cmd = options.cmd ?? (options.entrypoint ? [] : (config.Cmd ?? []));
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw new ContainerError('NO_COMMAND', `no command specified: ${reference} has no Cmd or Entrypoint and none was given`, { reason: 'no command' });
  const name = options.name;
  if (name !== undefined && !NAME.test(name)) {
    throw new ContainerError('INVALID_NAME', `invalid container name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`, { container: name, reason: 'invalid name' });
  }
  if (options.hostname !== undefined && !HOSTNAME.test(options.hostname)) {
    throw new ContainerError('INVALID_OPTION', `invalid hostname ${JSON.stringify(options.hostname)}: letters, digits, '-' and '.', at most 64`, { reason: 'invalid hostname' });
  }
  const userSpec = options.user ?? config.User ?? '';
  const extraEnv = options.env ?? [];
  const terminal = options.tty && !extraEnv.some((e) => e.startsWith('TERM=')) ? ['TERM=xterm'] : [];
  const id = randomBytes(32).toString('hex');
  return {
    id,
    name: name ?? id.slice(0, 12),
    image: reference,
    imageDigest: await img.digest(),
    argv,
    entrypoint,
    cmd,
    env: mergeEnv(config.Env ?? [], [...extraEnv, ...terminal]),
    workdir: options.workdir ?? (config.WorkingDir || '/'),
    userSpec,
    user: await resolveUser(await UnionFS.open(await img.layers()), userSpec),
    network: options.network ?? 'bridge',
    ...(options.ports && options.ports.length > 0 ? { ports: options.ports } : {}),
    ...(config.ExposedPorts && Object.keys(config.ExposedPorts).length > 0 ? { exposedPorts: Object.keys(config.ExposedPorts) } : {}),
    ...(options.hostname !== undefined ? { hostname: options.hostname } : {}),
    ...(options.mounts && options.mounts.length > 0 ? { mounts: options.mounts } : {}),
    ...(options.init ? { init: true } : {}),
    ...(options.autoRemove ? { autoRemove: true } : {}),
    created: new Date().toISOString(),
  };
}
