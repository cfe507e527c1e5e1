/**
 * Small extracted files, written in batches by worker threads that make the
 * system calls themselves: open, write, (fchown, fchmod,) futimes, close.
 *
 * Why: through Node's asynchronous fs API each of those calls is a separate
 * trip to libuv's thread pool and back — four hand-offs and four callbacks on
 * the extracting thread per file, ~20,000 for a 5,000-file layer — and the
 * extracting thread, which also inflates and parses the tar, was busy ~90 %
 * of the time. A batch of up to 128 files costs it one copy of their bytes
 * (into memory shared with the worker) and one message.
 * @module
 */
import type { Worker as WorkerType } from 'node:worker_threads';

/** One file of a batch: its bytes are `ring[start, start + length)`. */
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
 * Shared memory that one writer of files fills and the worker reads.
 * `write` rejects with the first failure (a Node-style fs error); batches are
 * written in the order they are sent, so their regions free up in that order.
 */
export interface BatchRing {
  /** The shared bytes: copy a batch's files here, then send it. */
  readonly bytes: Uint8Array;
  write(files: BatchFile[]): Promise<void>;
  /** Lets the worker forget the ring (after the last write has settled). */
  close(): void;
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
const rings = new Map();
parentPort.on('message', (msg) => {
  if (msg.open !== undefined) return void rings.set(msg.open, new Uint8Array(msg.buffer));
  if (msg.close !== undefined) return void rings.delete(msg.close);
  const { id, ring, files } = msg;
  const bytes = rings.get(ring);
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
  parentPort.postMessage({ id });
});
`;

interface Pool {
  worker: WorkerType;
  /** Batches sent and not yet answered: while any are, the worker keeps the process alive. */
  busy: number;
}

/** undefined: not tried yet; null: a worker cannot run here (or broke). */
let pool: Pool | null | undefined;
let starting: Promise<void> | undefined;
const pending = new Map<number, { resolve(): void; reject(err: unknown): void }>();
let nextId = 0;
let nextRing = 0;

/**
 * One worker. A second one contends with the first for the file system's
 * journal and directory locks (measured on ext4 with 5,000 files: 2.9–3.3 s
 * of system time with two against 1.8 s with one, and a slower wall time).
 */
async function startPool(): Promise<Pool | null> {
  let Worker: typeof WorkerType;
  try {
    ({ Worker } = await import('node:worker_threads'));
  } catch {
    return null;
  }
  let worker: WorkerType;
  try {
    // execArgv: [] — the worker needs none of the parent's loaders or flags (tsx, --inspect, …).
    worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
  } catch {
    return null;
  }
  const entry: Pool = { worker, busy: 0 };
  worker.on('message', (msg: { id: number; error?: { message: string; code?: string; errno?: number; syscall?: string; path?: string } }) => {
    // An idle worker must not keep the process alive.
    if (--entry.busy === 0) worker.unref();
    const job = pending.get(msg.id);
    pending.delete(msg.id);
    if (!job) return;
    if (msg.error) job.reject(Object.assign(new Error(msg.error.message), msg.error));
    else job.resolve();
  });
  worker.on('error', (err) => failPool(err));
  worker.on('exit', () => failPool(new Error('a file-writing worker exited')));
  worker.unref();
  return entry;
}

/** A broken pool rejects the batches it holds; later files go through the thread pool. */
function failPool(err: unknown): void {
  if (pool) void pool.worker.terminate();
  pool = null;
  for (const job of pending.values()) job.reject(err);
  pending.clear();
}

/**
 * A ring of `size` shared bytes for one writer, or undefined where worker
 * threads cannot start (the caller then writes files itself).
 *
 * Why shared memory: a buffer moved to the worker and back counts, on each
 * side, as newly allocated external memory (~300 MB for a 150 MB layer),
 * which the garbage collector answers with collections; the ring is
 * allocated once per writer.
 */
export async function batchRing(size: number): Promise<BatchRing | undefined> {
  // One start, however many writers ask at once.
  if (pool === undefined) await (starting ??= startPool().then((started) => void (pool = started)));
  const current = pool;
  if (!current) return undefined;
  const ring = nextRing++;
  const buffer = new SharedArrayBuffer(size);
  current.worker.postMessage({ open: ring, buffer });
  return {
    bytes: new Uint8Array(buffer),
    write(files) {
      return new Promise((resolve, reject) => {
        if (pool !== current) return reject(new Error('the file-writing worker is gone'));
        const id = nextId++;
        pending.set(id, { resolve, reject });
        if (current.busy++ === 0) current.worker.ref();
        current.worker.postMessage({ id, ring, files });
      });
    },
    close() {
      if (pool === current) current.worker.postMessage({ close: ring });
    },
  };
}
