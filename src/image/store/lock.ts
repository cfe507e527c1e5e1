/**
 * The store's inter-process lock: a file created with `O_CREAT|O_EXCL`.
 *
 * The holder writes its pid, host and a random token into the file and
 * touches it periodically. A lock is stale when its holder is a dead process
 * on this host, or when it has not been touched for `staleMs` (a holder on
 * another host, or a frozen one). Breaking a stale lock is itself guarded by
 * a second exclusive file (`lock.break`), and the staleness is re-checked
 * under it, so two waiters can never both break the lock and then both hold it.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { StoreLockedError } from '../errors.js';

/**
 * Options of {@link withLock}.
 *
 * @example
 * ```ts
 * new ImageStore(root, { timeoutMs: 10_000, staleMs: 30_000 });
 * ```
 */
export interface LockOptions {
  /** Give up after waiting this long (default 60 s). */
  timeoutMs?: number;
  /** A lock not touched for this long is stale (default 30 s); holders touch it at a third of that. */
  staleMs?: number;
}

interface LockContent {
  pid: number;
  hostname: string;
  token: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Whether a process of this host is alive (signal 0; `EPERM` means it is,
 * under another user): how a lock, a lease or a half-written blob of a dead
 * owner is told from a live one.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(path: string): Promise<{ content?: LockContent; ageMs: number } | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    let content: LockContent | undefined;
    try {
      const parsed = JSON.parse(text) as Partial<LockContent>;
      if (typeof parsed.pid === 'number' && typeof parsed.hostname === 'string' && typeof parsed.token === 'string') {
        content = parsed as LockContent;
      }
    } catch {
      // Being written right now, or torn by a crash: judged by age alone.
    }
    return { ...(content ? { content } : {}), ageMs: Date.now() - info.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function isStale(lock: { content?: LockContent; ageMs: number }, staleMs: number): boolean {
  if (lock.content && lock.content.hostname === hostname() && !processAlive(lock.content.pid)) return true;
  return lock.ageMs > staleMs;
}

async function breakIfStale(path: string, staleMs: number): Promise<void> {
  const breaker = `${path}.break`;
  let handle;
  try {
    handle = await open(breaker, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Someone else is breaking it; a breaker left by a crash expires quickly.
    const info = await stat(breaker).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > Math.max(1000, staleMs / 3)) await rm(breaker, { force: true });
    return;
  }
  try {
    const current = await readLock(path);
    if (current && isStale(current, staleMs)) await rm(path, { force: true });
  } finally {
    await handle.close();
    await rm(breaker, { force: true });
  }
}

/**
 * Runs `fn` holding the lock at `path`, waiting (with jittered back-off)
 * while another process holds it and breaking it when stale.
 *
 * @throws {@link StoreLockedError} after `timeoutMs`.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const staleMs = options.staleMs ?? 30_000;
  const content: LockContent = { pid: process.pid, hostname: hostname(), token: randomBytes(12).toString('hex') };
  const started = Date.now();
  let delay = 2;
  // On a full disk the lock file is created but its content cannot be written: it is held empty then, so that
  // prune and rmi can still free space. An empty lock is judged by its age (the holder keeps touching it).
  let heldEmpty = false;
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o644);
      try {
        await handle.writeFile(JSON.stringify(content));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
          await handle.truncate(0).catch(() => undefined);
          await handle.close().catch(() => undefined);
          heldEmpty = true;
          break;
        }
        await handle.close().catch(() => undefined);
        // Leave no empty lock behind to stall the next command.
        await rm(path, { force: true });
        throw err;
      }
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const current = await readLock(path);
    if (current && isStale(current, staleMs)) {
      await breakIfStale(path, staleMs);
      continue;
    }
    const waited = Date.now() - started;
    if (waited > timeoutMs) {
      throw new StoreLockedError(path, waited, current?.content ? { pid: current.content.pid, hostname: current.content.hostname } : undefined);
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 100);
  }

  const refresh = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {});
  }, Math.max(50, staleMs / 3));
  refresh.unref();
  try {
    return await fn();
  } finally {
    clearInterval(refresh);
    // Remove only our own lock: if it was broken as stale, it is someone else's now.
    const current = await readLock(path).catch(() => undefined);
    if (current?.content?.token === content.token || (heldEmpty && current !== undefined && current.content === undefined)) await rm(path, { force: true });
  }
}
