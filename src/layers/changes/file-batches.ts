/**
 * Small extracted files, written in batches by worker threads that make the
 * system calls themselves: open, write, (fchown, fchmod,) futimes, close.
 *
 * Why: through Node's asynchronous fs API each of those calls is a separate
 * trip to libuv's thread pool and back — four hand-offs and four callbacks on
 * the extracting thread per file, ~20,000 for a 5,000-file layer — and the
 * extracting thread, which also inflates and parses the tar, was busy ~90 %
 * of the time. A batch of up to 128 files costs it one copy of their bytes
 * and one message.
 * @module
 */
import type { Worker as WorkerType } from 'node:worker_threads';

/** One file of a batch: its bytes are `data[start, start + length)`. */
export interface BatchFile {
  path: string;
  /** Creation mode (permission bits, before the umask). */
  perm: number;
  /** Mode to set afterwards with fchmod, or -1. */
  chmod: number;
  /** Owner to set with fchown, or uid -1. */
  uid: number;
  gid: number;
  mtime: number;
  start: number;
  length: number;
}

/**
 * Writes batches of files; rejects with the first failure (a Node-style fs
 * error). `data` (a buffer of its own, offset 0) is moved to the worker and
 * handed back, emptied of meaning, to `reuse` once the batch is written.
 */
export interface BatchWriter {
  write(files: BatchFile[], data: Uint8Array, reuse?: (buffer: ArrayBuffer) => void): Promise<void>;
}

/**
 * The worker's side, as plain JavaScript started from a string: no module
 * file to locate and none of the parent's loaders needed. The flags are the
 * extractor's: a new file only (`O_EXCL`), never through a symlink.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const C = fs.constants;
const CREATE = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
parentPort.on('message', ({ id, files, data }) => {
  const bytes = new Uint8Array(data);
  for (let i = 0; i < files.length; i++) {
    const f = files[i];
    let fd = -1;
    try {
      fd = fs.openSync(f.path, CREATE, f.perm);
      const end = f.start + f.length;
      for (let at = f.start; at < end; ) at += fs.writeSync(fd, bytes, at, end - at);
      if (f.uid >= 0) fs.fchownSync(fd, f.uid, f.gid);
      if (f.chmod >= 0) fs.fchmodSync(fd, f.chmod);
      fs.futimesSync(fd, f.mtime, f.mtime);
      const closing = fd;
      fd = -1;
      fs.closeSync(closing);
    } catch (err) {
      if (fd >= 0) try { fs.closeSync(fd); } catch {}
      parentPort.postMessage({ id, error: { message: err.message, code: err.code, errno: err.errno, syscall: err.syscall, path: err.path } });
      return;
    }
  }
  parentPort.postMessage({ id, data }, [data]);
});
`;

interface PoolWorker {
  worker: WorkerType;
  busy: number;
}

/** Worker threads that write files. */
const WRITERS = 1;

/** undefined: not tried yet; null: workers cannot run here (or broke). */
let pool: PoolWorker[] | null | undefined;
const pending = new Map<number, { resolve(): void; reject(err: unknown): void; reuse: ((buffer: ArrayBuffer) => void) | undefined }>();
let nextId = 0;

async function startPool(): Promise<PoolWorker[] | null> {
  let Worker: typeof WorkerType;
  try {
    ({ Worker } = await import('node:worker_threads'));
  } catch {
    return null;
  }
  const workers: PoolWorker[] = [];
  try {
    // One: a second writer contends with the first for the file system's
    // journal and directory locks (measured on ext4 with 5,000 files: 2.9–3.3 s
    // of system time with two against 1.8 s with one, and a slower wall time).
    for (let i = 0; i < WRITERS; i++) {
      // execArgv: [] — the workers need none of the parent's loaders or flags (tsx, --inspect, …).
      const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
      const entry: PoolWorker = { worker, busy: 0 };
      worker.on('message', (msg: { id: number; data?: ArrayBuffer; error?: { message: string; code?: string; errno?: number; syscall?: string; path?: string } }) => {
        // An idle worker must not keep the process alive.
        if (--entry.busy === 0) worker.unref();
        const job = pending.get(msg.id);
        pending.delete(msg.id);
        if (!job) return;
        if (msg.data) job.reuse?.(msg.data);
        if (msg.error) job.reject(Object.assign(new Error(msg.error.message), msg.error));
        else job.resolve();
      });
      worker.on('error', (err) => failPool(err));
      worker.on('exit', () => failPool(new Error('a file-writing worker exited')));
      worker.unref();
      workers.push(entry);
    }
  } catch {
    for (const w of workers) void w.worker.terminate();
    return null;
  }
  return workers;
}

/** A broken pool rejects the batches it holds; later files go through the thread pool. */
function failPool(err: unknown): void {
  if (pool) for (const w of pool) void w.worker.terminate();
  pool = null;
  for (const job of pending.values()) job.reject(err);
  pending.clear();
}

/**
 * The batch writer, or undefined where worker threads cannot start (the
 * caller then writes files itself).
 */
export async function batchWriter(): Promise<BatchWriter | undefined> {
  if (pool === undefined) pool = await startPool();
  const workers = pool;
  if (!workers) return undefined;
  return {
    write(files, data, reuse) {
      return new Promise((resolve, reject) => {
        let target = workers[0]!;
        for (const w of workers) if (w.busy < target.busy) target = w;
        const id = nextId++;
        pending.set(id, { resolve, reject, reuse });
        if (target.busy++ === 0) target.worker.ref();
        // The batch's own buffer: moved to the worker, not copied.
        target.worker.postMessage({ id, files, data: data.buffer }, [data.buffer as ArrayBuffer]);
      });
    },
  };
}
