/**
 * Containers on disk: `<store>/containers/<id>/` holds `config.json` (what
 * to run, from the image and `create`'s options), the container's writable
 * layer (`u/`, an overlayfs upper kept across starts, with its `w/`), and,
 * while or after it runs, `state.json`, `status` (the setup's report: the
 * init's host pid), `exit` (the exit code, written by the supervisor),
 * `finished` (its time), `stdout.log` and `stderr.log`.
 * @module
 */
import { readFileSync } from 'node:fs';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive } from '../image/store/lock.js';
import { isFrozen } from './cgroup.js';
import { ContainerError } from './errors.js';
import type { PublishedPort } from '../sandbox/user-network.js';
import type { ContainerMount } from './volumes.js';

/**
 * What a container runs, fixed at `create`.
 *
 * @example
 * ```ts
 * const { argv, env }: ContainerSpec = await runtime.inspect('web');
 * ```
 */
export interface ContainerSpec {
  id: string;
  name: string;
  /** The image reference as given, and its manifest digest. */
  image: string;
  imageDigest: string;
  /** What runs: `entrypoint` then `cmd`. */
  argv: string[];
  /** The Entrypoint and Cmd in force (the image's, or the ones given), kept apart for `commit`. */
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workdir: string;
  /** The user as written (`-u`, else the image's User), kept for `commit`. */
  userSpec: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  /** `bridge`: a network namespace of its own, out through slirp4netns (`none` when it cannot run here). */
  network: 'bridge' | 'host' | 'none';
  /** `-p`: ports published on the host (user-mode network only). */
  ports?: PublishedPort[];
  /** The image's ExposedPorts (`80/tcp`), for `ps`'s PORTS. */
  exposedPorts?: string[];
  /** The hostname (default: the short ID). */
  hostname?: string;
  /** `-v`/`--mount`, as given at create. */
  mounts?: ContainerMount[];
  /** `--init`: the host's static init runs the command as PID 1. */
  init?: boolean;
  /** Removed when it exits (`docker run --rm`). */
  autoRemove?: boolean;
  /** RFC 3339. */
  created: string;
}

/** What the runtime last recorded about a run. */
export interface ContainerRunState {
  /** The supervisor's pid (a detached shell waiting for the namespaces), or the attaching process's. */
  supervisorPid?: number;
  /** Run attached: `supervisorPid` is the process that attached (it outlives the container). */
  attached?: boolean;
  /** The root file system's name inside the container's helper root (for `exec`). */
  rootName?: string;
  startedAt?: string;
  /** Set by `stop`. */
  stopping?: boolean;
  /** The container's cgroup v2 directory, when it could have one (see `cgroup.ts`). */
  cgroup?: string;
  /** Why it has none (what `pause` reports). */
  cgroupReason?: string;
}

/**
 * `docker ps`'s view of a container.
 *
 * @example
 * ```ts
 * for (const c of await runtime.ps({ all: true })) console.log(c.name, c.status, c.exitCode ?? '');
 * ```
 */
export interface ContainerInfo extends ContainerSpec {
  /** Docker's State.Status: `paused` is running with every process frozen. */
  status: 'created' | 'running' | 'paused' | 'exited';
  /** The namespace's init, as the host sees it, while running. */
  pid?: number;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
}

/** Writes JSON atomically (a temporary file renamed over the old one). */
export async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
  await rename(tmp, path);
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Whether a process is alive (signal 0). */
export function alive(pid: number | undefined): boolean {
  return pid !== undefined && pid > 0 && processAlive(pid);
}

/**
 * Whether the process `pid` is the one that started at `start` (field 22 of
 * `/proc/PID/stat`, clock ticks since boot): a pid can be reused.
 */
export function sameProcess(pid: number, start: number | undefined): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return false;
    return start === undefined || fields[19] === String(start);
  } catch {
    return false;
  }
}

/** The container's status from its files. */
export async function inspectDir(dir: string, config: ContainerSpec): Promise<ContainerInfo> {
  const run = await readJson<ContainerRunState>(join(dir, 'state.json'));
  const info: ContainerInfo = { ...config, status: 'created' };
  if (!run?.startedAt) return info;
  info.startedAt = run.startedAt;
  const exit = await readFile(join(dir, 'exit'), 'utf8').catch(() => undefined);
  if (exit !== undefined && exit.trim() !== '') {
    const finishedAt = (await readFile(join(dir, 'finished'), 'utf8').catch(() => '')).trim();
    return { ...info, status: 'exited', exitCode: Number(exit.trim()), ...(finishedAt ? { finishedAt } : {}) };
  }
  const status = await readFile(join(dir, 'status'), 'utf8').catch(() => '');
  const pid = /^pid (\d+)(?: (\d+))?$/m.exec(status);
  const init = pid ? { pid: Number(pid[1]), start: pid[2] === undefined ? undefined : Number(pid[2]) } : undefined;
  // Running while its processes live: the supervisor's word, or, without it, the init itself.
  if (alive(run.supervisorPid) || (init && sameProcess(init.pid, init.start))) {
    const status = (await isFrozen(run.cgroup)) ? 'paused' : 'running';
    return { ...info, status, ...(init ? { pid: init.pid } : {}) };
  }
  // The supervisor died without writing an exit code (killed) and took the namespaces with it.
  return { ...info, status: 'exited', exitCode: 137 };
}

const ID = /^[0-9a-f]{64}$/;

/** A container's directory and spec. */
export interface StoredContainer {
  dir: string;
  config: ContainerSpec;
}

/** Every container under `root` (`<store>/containers`). */
export async function listContainers(root: string): Promise<StoredContainer[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const out: StoredContainer[] = [];
  for (const id of names.filter((n) => ID.test(n))) {
    const config = await readJson<ContainerSpec>(join(root, id, 'config.json'));
    if (config) out.push({ dir: join(root, id), config });
  }
  return out;
}

/**
 * A container by full id, name, or unique id prefix (undefined when none).
 *
 * @throws {@link ContainerError} `CONTAINER_NOT_FOUND` for a prefix of several ids.
 */
export async function lookupContainer(root: string, nameOrId: string): Promise<StoredContainer | undefined> {
  const all = await listContainers(root);
  const exact = all.find((c) => c.config.id === nameOrId || c.config.name === nameOrId);
  if (exact || nameOrId === '') return exact;
  const prefixed = all.filter((c) => c.config.id.startsWith(nameOrId));
  if (prefixed.length > 1) throw new ContainerError('CONTAINER_NOT_FOUND', `multiple containers match the id prefix ${nameOrId}`, { container: nameOrId, reason: 'ambiguous' });
  return prefixed[0];
}

/** {@link lookupContainer}, or a `CONTAINER_NOT_FOUND` error. */
export async function findContainer(root: string, nameOrId: string): Promise<StoredContainer> {
  const found = await lookupContainer(root, nameOrId);
  if (!found) throw new ContainerError('CONTAINER_NOT_FOUND', `no such container: ${nameOrId}`, { container: nameOrId, reason: 'not found' });
  return found;
}
