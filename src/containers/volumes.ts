/**
 * Container mounts, as `docker run -v` and `--mount` give them: a host
 * directory bound in, a named volume (a directory under the store,
 * `<store>/volumes/<name>/_data`, which outlives the containers that use
 * it, as Docker's do), or a tmpfs. They reach the sandbox as the mounts RUN
 * steps use: a directory bound read-write (or read-only) into the root.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, resolve } from 'node:path';
import { bytesSource } from '../layers/entry.js';
import { layerFromEntries } from '../layers/from-entries.js';
import { UnionFS } from '../unionfs/union.js';
import type { Mount, MountSource } from '../sandbox/executor.js';
import { findProgram } from '../sandbox/probe.js';
import { ContainerError } from './errors.js';

/**
 * One mount of a container.
 *
 * @example
 * ```ts
 * const mounts: ContainerMount[] = [
 *   { type: 'bind', source: '/srv/data', target: '/data', readOnly: true },
 *   { type: 'volume', source: 'cache', target: '/var/cache' },
 *   { type: 'tmpfs', target: '/scratch' },
 * ];
 * ```
 */
export type ContainerMount =
  | {
      type: 'bind';
      /** A host directory or file (or socket). */
      source: string;
      target: string;
      readOnly?: boolean;
      /** A missing source becomes a directory (`-v`, as Docker does); without it, a missing source is refused (`--mount`). */
      createSource?: boolean;
    }
  | { type: 'volume'; source: string; target: string; readOnly?: boolean }
  | { type: 'tmpfs'; target: string };

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** A host path as Docker's CLI (23+) takes it: absolute, or `.`, `./…`, `../…` from the current directory. */
function hostPath(source: string): string | undefined {
  if (isAbsolute(source)) return posix.normalize(source);
  if (source === '.' || source === '..' || source.startsWith('./') || source.startsWith('../')) return resolve(source);
  return undefined;
}

function invalid(spec: string, reason: string): ContainerError {
  return new ContainerError('INVALID_OPTION', `invalid mount ${JSON.stringify(spec)}: ${reason}`, { reason });
}

function target(spec: string, path: string | undefined): string {
  if (path === undefined || path === '') throw invalid(spec, 'no destination');
  if (!path.startsWith('/')) throw invalid(spec, `the destination ${path} is not an absolute path`);
  const normal = posix.normalize(path);
  if (normal === '/') throw invalid(spec, 'the destination cannot be /');
  return normal;
}

/**
 * `-v SOURCE:TARGET[:ro|rw]` (an absolute SOURCE, or one starting with
 * `./` or `../` from the current directory, is a host directory or file,
 * made a directory when missing, as Docker does; a name is a named volume) or `-v TARGET` (an anonymous volume, given a random name).
 *
 * @throws {@link ContainerError} `INVALID_OPTION`.
 * @example
 * ```ts
 * parseVolumeFlag('/srv/data:/data:ro'); // { type: 'bind', source: '/srv/data', target: '/data', readOnly: true, createSource: true }
 * parseVolumeFlag('cache:/var/cache');   // { type: 'volume', source: 'cache', target: '/var/cache', readOnly: false }
 * ```
 */
export function parseVolumeFlag(spec: string): ContainerMount {
  const parts = spec.split(':');
  if (parts.length === 1) return { type: 'volume', source: randomBytes(32).toString('hex'), target: target(spec, parts[0]), readOnly: false };
  if (parts.length > 3) throw invalid(spec, 'expected SOURCE:TARGET[:ro|rw]');
  const [source = '', dest, mode = 'rw'] = parts;
  const options = mode.split(',');
  for (const o of options) if (!['ro', 'rw', 'z', 'Z'].includes(o)) throw invalid(spec, `unknown option ${JSON.stringify(o)} (ro or rw)`);
  const readOnly = options.includes('ro');
  const host = hostPath(source);
  if (host !== undefined) return { type: 'bind', source: host, target: target(spec, dest), readOnly, createSource: true };
  if (!VOLUME_NAME.test(source)) throw invalid(spec, `${JSON.stringify(source)} is neither an absolute host path nor a volume name`);
  return { type: 'volume', source, target: target(spec, dest), readOnly };
}

/**
 * `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly]` (also
 * `src`, `dst`, `destination`, `ro`, `readonly=true|false`).
 *
 * @throws {@link ContainerError} `INVALID_OPTION`.
 * @example
 * ```ts
 * parseMountFlag('type=bind,src=/srv/data,dst=/data,readonly');
 * ```
 */
export function parseMountFlag(spec: string): ContainerMount {
  let type = 'volume';
  let source: string | undefined;
  let dest: string | undefined;
  let readOnly = false;
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1).trim();
    if (key === 'type' && value) type = value;
    else if ((key === 'source' || key === 'src') && value !== undefined) source = value;
    else if ((key === 'target' || key === 'dst' || key === 'destination') && value !== undefined) dest = value;
    else if (key === 'readonly' || key === 'ro') {
      if (value !== undefined && !['true', 'false', '1', '0'].includes(value)) throw invalid(spec, `${key} must be true or false`);
      readOnly = value === undefined || value === 'true' || value === '1';
    } else throw invalid(spec, `unknown field ${JSON.stringify(key)}`);
  }
  if (type === 'tmpfs') {
    if (source !== undefined) throw invalid(spec, 'a tmpfs has no source');
    return { type: 'tmpfs', target: target(spec, dest) };
  }
  if (type === 'bind') {
    const host = source === undefined ? undefined : hostPath(source);
    if (host === undefined) throw invalid(spec, 'a bind mount needs an absolute source (or one starting with ./ or ../)');
    return { type: 'bind', source: host, target: target(spec, dest), readOnly };
  }
  if (type !== 'volume') throw invalid(spec, `type must be bind, volume or tmpfs, not ${JSON.stringify(type)}`);
  const name = source ?? randomBytes(32).toString('hex');
  if (!VOLUME_NAME.test(name)) throw invalid(spec, `invalid volume name ${JSON.stringify(name)}`);
  return { type: 'volume', source: name, target: target(spec, dest), readOnly };
}

/** The directory of a named volume's files. */
export function volumePath(storeRoot: string, name: string): string {
  return join(storeRoot, 'volumes', name, '_data');
}

/**
 * Checks a container's mounts before it is created, as `docker run` does:
 * a bind source must exist (a directory, a file or a socket), except that
 * one given by `-v` is made a directory when missing; a named volume is
 * created if missing.
 *
 * @example
 * ```ts
 * const mounts = [parseVolumeFlag('data:/var/lib/data')];
 * await prepareMounts(store.root, mounts);
 * ```
 *
 * @throws {@link ContainerError} `INVALID_OPTION`.
 */
export async function prepareMounts(storeRoot: string, mounts: readonly ContainerMount[]): Promise<void> {
  const targets = new Set<string>();
  for (const m of mounts) {
    if (targets.has(m.target)) throw new ContainerError('INVALID_OPTION', `duplicate mount point: ${m.target}`, { reason: 'duplicate mount point', path: m.target });
    targets.add(m.target);
    if (m.type === 'bind') {
      const info = await stat(m.source).catch(() => undefined);
      if (!info && !m.createSource) throw new ContainerError('INVALID_OPTION', `invalid mount config for type "bind": bind source path does not exist: ${m.source}`, { reason: 'no such path', path: m.source });
      if (info && !info.isDirectory() && !info.isFile() && !info.isSocket()) {
        throw new ContainerError('INVALID_OPTION', `invalid mount: ${m.source} is not a directory, a file or a socket`, { reason: 'unsupported file type', path: m.source });
      }
    }
  }
  // Only once every mount is known good: nothing is made for a refused container.
  for (const m of mounts) {
    if (m.type === 'volume') await mkdir(volumePath(storeRoot, m.source), { recursive: true, mode: 0o755 });
    else if (m.type === 'bind' && m.createSource && !(await stat(m.source).catch(() => undefined))) await mkdir(m.source, { recursive: true, mode: 0o755 });
  }
}

/**
 * The mounts as the sandbox takes them (the mounts of a RUN step), and the
 * resolver that tells it where each one's files are. Directories are bound
 * as they are: their owner and mode are kept.
 */
export async function sandboxMounts(storeRoot: string, mounts: readonly ContainerMount[], init?: string): Promise<{ mounts: Mount[]; resolve(mount: Mount): Promise<MountSource> }> {
  const hostPaths = new Map<string, string>();
  const out: Mount[] = [];
  const initBind = init === undefined ? undefined : await initMount(init);
  if (initBind) out.push(initBind.mount);
  for (const [i, m] of mounts.entries()) {
    if (m.type === 'tmpfs') {
      out.push({ type: 'tmpfs', target: m.target, readOnly: false, required: false });
      continue;
    }
    const hostPath = m.type === 'bind' ? m.source : volumePath(storeRoot, m.source);
    // A source removed since create: made again where create would make it (docker start does the same).
    if (m.type !== 'bind' || m.createSource) await mkdir(hostPath, { recursive: true, mode: 0o755 }).catch(() => undefined);
    const info = await stat(hostPath).catch(() => undefined);
    if (!info) throw new ContainerError('INVALID_OPTION', `invalid mount config for type "bind": bind source path does not exist: ${hostPath}`, { reason: 'no such path', path: hostPath });
    const id = `container-mount-${i}`;
    hostPaths.set(id, hostPath);
    // The sandbox's first-use set-up of an empty directory must change nothing: a bind or volume is never chowned.
    // mode/owner as the directory has them, in the sandbox's ids: as root the host's; rootless the caller is root
    // inside, and a host uid is no namespace id (handed to the sandbox it would give the caller's directory away).
    const owner = process.getuid?.() === 0 ? { uid: info.uid, gid: info.gid } : { uid: 0, gid: 0 };
    out.push({ type: 'cache', id, target: m.target, readOnly: m.readOnly === true, required: false, sharing: 'shared', mode: info.mode & 0o7777, ...owner });
  }
  return {
    mounts: out,
    async resolve(mount) {
      if (mount.type === 'tmpfs') return { kind: 'tmpfs' };
      if (initBind && mount.type === 'bind' && mount.from === 'init' && mount.target === INIT_DIR) return initBind.source;
      const hostPath = mount.id === undefined ? undefined : hostPaths.get(mount.id);
      if (mount.type !== 'cache' || hostPath === undefined) throw new ContainerError('INVALID_OPTION', `unexpected mount ${mount.target ?? ''}`, { reason: 'unknown mount' });
      return { kind: 'cache', id: mount.id!, hostPath, sharing: 'shared' };
    },
  };
}

/**
 * The named volumes of a store (`docker volume ls`).
 *
 * @example
 * ```ts
 * await listVolumes(store.root); // ['cache', 'db']
 * ```
 */
export async function listVolumes(storeRoot: string): Promise<string[]> {
  return (await readdir(join(storeRoot, 'volumes')).catch(() => [] as string[])).filter((n) => VOLUME_NAME.test(n)).sort();
}

/**
 * Removes a named volume and its files (`docker volume rm`); refused while
 * a container in `inUse` has it.
 *
 * @example
 * ```ts
 * for (const name of await listVolumes(store.root)) await removeVolume(store.root, name, []);
 * ```
 *
 * @throws {@link ContainerError} `CONTAINER_NOT_FOUND`-style `INVALID_OPTION` for an unknown volume, `CONTAINER_RUNNING` when in use.
 */
export async function removeVolume(storeRoot: string, name: string, inUse: readonly string[]): Promise<void> {
  if (!VOLUME_NAME.test(name) || !(await stat(join(storeRoot, 'volumes', name)).catch(() => undefined))) {
    throw new ContainerError('INVALID_OPTION', `no such volume: ${name}`, { reason: 'no such volume' });
  }
  if (inUse.length > 0) throw new ContainerError('CONTAINER_RUNNING', `volume ${name} is in use by ${inUse.join(', ')}`, { reason: 'volume in use' });
  await rm(join(storeRoot, 'volumes', name), { recursive: true, force: true });
}

/**
 * Where `--init`'s init runs from: a read-only directory bound over a
 * mount point of the sandbox's own (as RUN mounts are), so nothing of it
 * reaches the writable layer.
 */
const INIT_DIR = '/run/init';

/** The init's path inside the container. */
export const INIT_PATH = `${INIT_DIR}/docker-init`;

/** Static inits that run in any image, as Docker's docker-init (a static tini) does. */
const INIT_PROGRAMS = ['docker-init', 'tini-static'];

/**
 * The host's static init for `--init` (Docker's `docker-init`, or Debian's
 * `tini-static` from the package tini): reaps zombies and forwards signals
 * as the container's PID 1.
 *
 * @throws {@link ContainerError} `INVALID_OPTION` when none is installed.
 */
export async function findInit(): Promise<string> {
  for (const name of INIT_PROGRAMS) {
    const found = await findProgram(name);
    if (found) return found;
  }
  throw new ContainerError('INVALID_OPTION', '--init needs a static init on this machine: docker-init or tini-static (Debian package tini)', { reason: 'no init program' });
}

/**
 * The mount that puts the init at {@link INIT_PATH} (read-only), and its
 * source for the sandbox: a one-file view, copied into the run's own
 * directory at each start.
 */
export async function initMount(program: string): Promise<{ mount: Mount; source: MountSource }> {
  const bytes = new Uint8Array(await readFile(program));
  const layer = layerFromEntries([
    { path: '/init', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
    { path: '/init/docker-init', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: bytes.length, content: bytesSource(bytes) },
  ]);
  const rootfs = await UnionFS.open([layer]);
  return {
    mount: { type: 'bind', from: 'init', source: '/init', target: INIT_DIR, readOnly: true, required: false },
    source: { kind: 'layers', layers: [layer], rootfs, path: '/init' },
  };
}
