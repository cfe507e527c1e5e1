/**
 * Containers on disk: `<store>/containers/<id>/` holds `config.json` (what
 * to run, from the image and `create`'s options), the container's writable
 * layer (`u/`, an overlayfs upper kept across starts, with its `w/`), and,
 * while or after it runs, `state.json`, `status` (the setup's report: the
 * init's host pid), `exit` (the exit code, written by the supervisor),
 * `finished` (its time), `stdout.log` and `stderr.log`.
 * @module
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What a container runs, fixed at `create`.
 *
 * @example
 * ```ts
 * const { argv, env }: ContainerConfig = await runtime.inspect('web');
 * ```
 */
export interface ContainerConfig {
  id: string;
  name: string;
  /** The image reference as given, and its manifest digest. */
  image: string;
  imageDigest: string;
  argv: string[];
  env: string[];
  workdir: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  network: 'host' | 'none';
  /** RFC 3339. */
  created: string;
}

/** What the runtime last recorded about a run. */
export interface ContainerRunState {
  /** The supervisor's pid (a detached shell waiting for the namespaces), or this process's for attached runs. */
  supervisorPid?: number;
  /** The root file system's name inside the container's helper root (for `exec`). */
  rootName?: string;
  startedAt?: string;
  /** Set by `stop`. */
  stopping?: boolean;
}

/**
 * `docker ps`'s view of a container.
 *
 * @example
 * ```ts
 * for (const c of await runtime.ps({ all: true })) console.log(c.name, c.status, c.exitCode ?? '');
 * ```
 */
export interface ContainerInfo extends ContainerConfig {
  status: 'created' | 'running' | 'exited';
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
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The container's status from its files. */
export async function inspectDir(dir: string, config: ContainerConfig): Promise<ContainerInfo> {
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
  const pid = /^pid (\d+)$/m.exec(status);
  if (alive(run.supervisorPid)) return { ...info, status: 'running', ...(pid ? { pid: Number(pid[1]) } : {}) };
  // The supervisor died without writing an exit code (killed): the namespace died with it or is dying.
  return { ...info, status: 'exited', exitCode: 137 };
}
