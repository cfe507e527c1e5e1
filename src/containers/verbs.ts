/**
 * The container verbs that only read a container's state or signal its
 * processes: `kill`, `wait`, `top`, and `logs` with `--tail` and
 * `--follow`. They work from any process, as the rest of the runtime does:
 * everything they need is in the container's directory and in `/proc`.
 * @module
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { ContainerRuntime } from './runtime.js';
import { ContainerError } from './errors.js';
import { findContainer, inspectDir } from './state.js';
import { formatLogTime, LogReader, mergeLines, mergeReaders, timesPath, type LogLine } from './logs.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A signal by name (`KILL`, `SIGTERM`, any case) or number, as `docker kill
 * -s` reads it.
 *
 * @throws {@link ContainerError} `INVALID_OPTION` for anything else.
 * @example
 * ```ts
 * parseSignal('hup'); // 1
 * parseSignal('9');   // 9
 * ```
 */
export function parseSignal(text: string): number {
  const signals = constants.signals as Record<string, number>;
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 64) return n;
  } else {
    const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
    const n = signals[name];
    if (n !== undefined) return n;
  }
  throw new ContainerError('INVALID_OPTION', `invalid signal: ${text}`, { reason: 'invalid signal' });
}

/**
 * `docker kill`: sends a signal (default `SIGKILL`) to the container's
 * main process.
 *
 * @throws {@link ContainerError} `CONTAINER_NOT_RUNNING`, `INVALID_OPTION` (a bad signal).
 * @example
 * ```ts
 * await killContainer(runtime, 'web', 'HUP');
 * ```
 */
export async function killContainer(runtime: ContainerRuntime, nameOrId: string, signal: string | number = 'KILL'): Promise<void> {
  const number = typeof signal === 'number' ? signal : parseSignal(signal);
  const info = await runtime.inspect(nameOrId);
  if ((info.status !== 'running' && info.status !== 'paused') || !info.pid) {
    throw new ContainerError('CONTAINER_NOT_RUNNING', `cannot kill container ${info.name}: it is not running`, { container: nameOrId, reason: 'not running' });
  }
  try {
    process.kill(info.pid, number);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * `docker wait`: resolves with the container's exit code once it has
 * stopped (at once for a stopped one).
 *
 * @throws {@link ContainerError} `CONTAINER_NOT_FOUND` (also when it is removed while waited for).
 * @example
 * ```ts
 * const code = await waitContainer(runtime, 'job');
 * ```
 */
export async function waitContainer(runtime: ContainerRuntime, nameOrId: string, options: { intervalMs?: number; signal?: AbortSignal } = {}): Promise<number> {
  for (;;) {
    const info = await runtime.inspect(nameOrId);
    // A created container is waited for too, as docker wait does: until it has run and stopped.
    if (info.status === 'exited') return info.exitCode ?? 0;
    options.signal?.throwIfAborted();
    await sleep(options.intervalMs ?? 100);
  }
}

/**
 * One process of {@link topContainer}.
 *
 * @example
 * ```ts
 * for (const p of await topContainer(runtime, 'web')) console.log(p.pid, p.cmd);
 * ```
 */
export interface ContainerProcess {
  uid: number;
  pid: number;
  ppid: number;
  /** The command line, arguments joined by spaces. */
  cmd: string;
}

async function procStat(pid: number): Promise<{ ppid: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  // The command name is in parentheses and may hold spaces: read after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]) };
}

/**
 * `docker top`: the processes of a running container (its init and every
 * descendant), as the host sees them.
 *
 * @throws {@link ContainerError} `CONTAINER_NOT_RUNNING`.
 * @example
 * ```ts
 * for (const p of await topContainer(runtime, 'web')) console.log(p.pid, p.cmd);
 * ```
 */
export async function topContainer(runtime: ContainerRuntime, nameOrId: string): Promise<ContainerProcess[]> {
  const info = await runtime.inspect(nameOrId);
  if ((info.status !== 'running' && info.status !== 'paused') || !info.pid) {
    throw new ContainerError('CONTAINER_NOT_RUNNING', `container ${info.name} is not running`, { container: nameOrId, reason: 'not running' });
  }
  const parents = new Map<number, number>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = await procStat(Number(name));
    if (s) parents.set(Number(name), s.ppid);
  }
  const inside = new Set([info.pid]);
  // Descendants of the init: repeat until no new child is found (pids are not ordered by ancestry).
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parents) if (!inside.has(pid) && inside.has(ppid)) (inside.add(pid), (grew = true));
  }
  const out: ContainerProcess[] = [];
  for (const pid of [...inside].sort((a, b) => a - b)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
    if (cmdline === undefined || status === undefined) continue;
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    out.push({ uid, pid, ppid: parents.get(pid) ?? 0, cmd: cmdline.split('\0').filter(Boolean).join(' ') });
  }
  return out;
}

/**
 * Options of {@link containerLogs}.
 *
 * @example
 * ```ts
 * const options: LogsOptions = { tail: 10, follow: true, timestamps: true, since: parseLogTime('10m', Date.now()) };
 * await containerLogs(runtime, 'web', (stream, bytes) => process[stream].write(bytes), options);
 * ```
 */
export interface LogsOptions {
  /** Only the last N lines (`--tail N`; default all): of both streams together, in time order. */
  tail?: number;
  /** Keep printing what the container writes until it stops (`-f`). */
  follow?: boolean;
  /** Each line starts with its time, RFC 3339 with nanoseconds in UTC and a space (`-t`). */
  timestamps?: boolean;
  /** Only lines written at or after this Unix time in nanoseconds (`--since`, see {@link parseLogTime}). */
  since?: bigint;
  /** Only lines written at or before this Unix time in nanoseconds (`--until`); following stops then. */
  until?: bigint;
  /** Stops following. */
  signal?: AbortSignal;
  /** How often a followed log is read again (default 100 ms). */
  intervalMs?: number;
}

/**
 * `docker logs [--tail N] [-f] [-t] [--since T] [--until T]`: what the
 * container wrote, each stream to `write` as bytes, both streams in the
 * order they were written; with `follow`, new lines as they come until the
 * container stops (or `until` passes, or `signal` aborts). Logs kept
 * before times were recorded are read as they are (`--tail` then counts
 * each stream's lines; they have the container's creation time).
 *
 * @example
 * ```ts
 * await containerLogs(runtime, 'web', (stream, bytes) => process[stream].write(bytes), { tail: 10, follow: true, timestamps: true });
 * ```
 */
export async function containerLogs(runtime: ContainerRuntime, nameOrId: string, write: (stream: 'stdout' | 'stderr', bytes: Uint8Array) => void, options: LogsOptions = {}): Promise<void> {
  const { dir, config } = await findContainer(runtime.root, nameOrId);
  const streams = ['stdout', 'stderr'] as const;
  const created = BigInt(Date.parse(config.created) || 0) * 1_000_000n;
  const { since, until } = options;
  const show = (line: LogLine) => {
    if (since !== undefined && line.time < since) return;
    if (until !== undefined && line.time > until) return;
    write(line.stream, options.timestamps ? Buffer.concat([Buffer.from(`${formatLogTime(line.time)} `), line.bytes]) : line.bytes);
  };
  // Each stream is read on from where it was left, in blocks (a log is never read whole): whole
  // lines, and the unterminated end only when `partial`.
  const readers = { stdout: new LogReader('stdout', join(dir, 'stdout.log'), created), stderr: new LogReader('stderr', join(dir, 'stderr.log'), created) };
  const showNew = async (partial: boolean) => {
    for await (const line of mergeReaders(readers.stdout, readers.stderr, partial)) show(line);
  };
  const legacy = (await Promise.all(streams.map((s) => stat(timesPath(join(dir, `${s}.log`))).then(() => false, () => true)))).every(Boolean);
  const exited = async () => {
    // Removed (a detached --rm container that has ended): nothing more will come.
    if (!(await stat(dir).catch(() => undefined))) return true;
    const info = await inspectDir(dir, config).catch(() => undefined);
    return !info || info.status === 'exited';
  };
  let done = !options.follow || (await exited());
  if (options.tail === undefined) await showNew(done);
  else {
    // The last lines, read backwards from the ends: of each stream, then of both together.
    const last = { stdout: await readers.stdout.tail(options.tail, done), stderr: await readers.stderr.tail(options.tail, done) };
    // Untimed logs: the last lines of each stream, as they were always read.
    if (legacy) for (const stream of streams) last[stream].forEach(show);
    else {
      const merged = mergeLines(last.stdout, last.stderr);
      merged.slice(Math.max(0, merged.length - options.tail)).forEach(show);
    }
  }
  while (!done) {
    if (options.signal?.aborted) return;
    if (until !== undefined && BigInt(Date.now()) * 1_000_000n > until) {
      // Lines stamped before `until` may have come since the last read: one more, then stop.
      await showNew(false);
      return;
    }
    await sleep(options.intervalMs ?? 100);
    done = await exited();
    await showNew(done);
  }
}

async function treeSize(path: string): Promise<number> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return 0;
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const name of await readdir(path).catch(() => [] as string[])) total += await treeSize(join(path, name));
  return total;
}

/**
 * `docker ps -s`: the size of the container's writable layer (the bytes of
 * its files) and of everything it sees (that plus its image, uncompressed).
 *
 * @example
 * ```ts
 * const { rw, rootFs } = await containerSize(runtime, 'web'); // "2B (virtual 4.26MB)"
 * ```
 */
export async function containerSize(runtime: ContainerRuntime, nameOrId: string): Promise<{ rw: number; rootFs: number }> {
  const { dir, config } = await findContainer(runtime.root, nameOrId);
  const rw = await treeSize(join(dir, 'u'));
  const image = await runtime.store.inspect(config.imageDigest).catch(() => undefined);
  return { rw, rootFs: rw + (image?.Size ?? 0) };
}
