/**
 * Where the blocks of `parallelGzip` are compressed: on worker threads (the
 * default) or on libuv's thread pool through zlib's asynchronous API (the
 * fallback where workers cannot start). Both run the same zlib with the same
 * options on the same runs, so they produce the same bytes (a test holds
 * them to it).
 *
 * Workers win on the cost per call: a synchronous deflate call on a worker
 * costs ~0.04 ms of set-up, an asynchronous one ~0.3 ms of stream machinery
 * on the calling thread — which adds up over the thousand-odd runs of a
 * 150 MB layer, and competes with the thread that produces and hashes the tar.
 * @module
 */
import { availableParallelism } from 'node:os';
import type { Worker as WorkerType } from 'node:worker_threads';
import { requireZlib } from './zlib.js';

/** Deflate's window: how far back a match may reach, and so the dictionary size. */
export const WINDOW = 32 * 1024;
const MAX_STORED = 65535;

/** One block to compress: its runs and the bytes that precede it. */
export interface BlockJob {
  /** The block. The executor may take it over (transfer it to a worker): do not use it afterwards. */
  block: Uint8Array;
  /** Up to 32 KiB of input immediately before `block` (empty at the start of the stream). */
  window: Uint8Array;
  /** Flat triples: start, end, 1 for stored or 0 for deflated. They tile the block. */
  runs: Int32Array;
  level: number;
}

/** Compresses blocks; the pieces of one block concatenate to its deflate data. */
export interface BlockExecutor {
  readonly kind: 'workers' | 'threadpool';
  compress(job: BlockJob): Promise<Uint8Array[]>;
}

/**
 * Deflate stored blocks (non-final) holding `data`, as pieces: a 5-byte
 * header, then a view of up to 65,535 bytes of `data` (not copied), and so
 * on. The stream must be at a byte boundary.
 */
export function storedBlocks(data: Uint8Array): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let start = 0;
  do {
    const len = Math.min(MAX_STORED, data.length - start);
    // BFINAL 0, BTYPE 00 (stored), padding; LEN and NLEN little-endian.
    pieces.push(Uint8Array.of(0x00, len & 0xff, len >>> 8, ~len & 0xff, (~len >>> 8) & 0xff), data.subarray(start, start + len));
    start += len;
  } while (start < data.length);
  return pieces;
}

/** The (up to) 32 KiB of input before offset `start` of `block`. */
function windowBefore(window: Uint8Array, block: Uint8Array, start: number): Uint8Array | undefined {
  if (start >= WINDOW) return block.subarray(start - WINDOW, start);
  const fromWindow = Math.min(WINDOW - start, window.length);
  if (fromWindow === 0) return start > 0 ? block.subarray(0, start) : undefined;
  const out = new Uint8Array(fromWindow + start);
  out.set(window.subarray(window.length - fromWindow), 0);
  out.set(block.subarray(0, start), fromWindow);
  return out;
}

// ───────────────────────── libuv thread pool ─────────────────────────

function threadPoolExecutor(): BlockExecutor {
  const zlib = requireZlib();
  const deflate = (data: Uint8Array, dictionary: Uint8Array | undefined, level: number): Promise<Uint8Array> =>
    new Promise((resolve, reject) => {
      zlib.deflateRaw(
        data,
        {
          level,
          chunkSize: data.length + (data.length >> 3) + 1024,
          finishFlush: zlib.constants.Z_SYNC_FLUSH,
          ...(dictionary && dictionary.length > 0 ? { dictionary } : {}),
        },
        (err, out) => (err ? reject(err) : resolve(out)),
      );
    });
  return {
    kind: 'threadpool',
    async compress({ block, window, runs, level }) {
      const parts: Array<Promise<Uint8Array[]> | Uint8Array[]> = [];
      for (let i = 0; i < runs.length; i += 3) {
        const data = block.subarray(runs[i]!, runs[i + 1]!);
        if (runs[i + 2] === 1) parts.push(storedBlocks(data));
        else parts.push(deflate(data, windowBefore(window, block, runs[i]!), level).then((out) => [out]));
      }
      return (await Promise.all(parts)).flat();
    },
  };
}

// ───────────────────────── worker threads ─────────────────────────

/**
 * The worker's side, as plain JavaScript so it can start from a string: no
 * module file to locate (source or build), no loaders inherited. It mirrors
 * `storedBlocks`, `windowBefore` and the thread-pool deflate call above.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
function windowBefore(window, block, start) {
  if (start >= ${WINDOW}) return block.subarray(start - ${WINDOW}, start);
  const fromWindow = Math.min(${WINDOW} - start, window.length);
  if (fromWindow === 0) return start > 0 ? block.subarray(0, start) : undefined;
  const out = new Uint8Array(fromWindow + start);
  out.set(window.subarray(window.length - fromWindow), 0);
  out.set(block.subarray(0, start), fromWindow);
  return out;
}
function compressBlock(block, window, runs, level) {
  const pieces = [];
  let total = 0;
  for (let i = 0; i < runs.length; i += 3) {
    const data = block.subarray(runs[i], runs[i + 1]);
    if (runs[i + 2] === 1) {
      let start = 0;
      do {
        const len = Math.min(${MAX_STORED}, data.length - start);
        pieces.push(Uint8Array.of(0, len & 255, len >>> 8, ~len & 255, (~len >>> 8) & 255), data.subarray(start, start + len));
        total += 5 + len;
        start += len;
      } while (start < data.length);
    } else {
      const dictionary = windowBefore(window, block, runs[i]);
      const out = zlib.deflateRawSync(data, {
        level,
        chunkSize: data.length + (data.length >> 3) + 1024,
        finishFlush: zlib.constants.Z_SYNC_FLUSH,
        ...(dictionary && dictionary.length > 0 ? { dictionary } : {}),
      });
      pieces.push(out);
      total += out.length;
    }
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of pieces) { out.set(p, at); at += p.length; }
  return out;
}
parentPort.on('message', ({ id, block, window, runs, level }) => {
  try {
    const out = compressBlock(block, window, runs, level);
    parentPort.postMessage({ id, out }, [out.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err), code: err && err.code });
  }
});
`;

interface PendingJob {
  resolve(pieces: Uint8Array[]): void;
  reject(err: unknown): void;
}

interface PoolWorker {
  worker: WorkerType;
  busy: number;
}

let pool: Promise<PoolWorker[] | undefined> | undefined;
const pending = new Map<number, PendingJob>();
let nextId = 0;

async function startPool(): Promise<PoolWorker[] | undefined> {
  let Worker: typeof WorkerType;
  try {
    ({ Worker } = await import('node:worker_threads'));
  } catch {
    return undefined;
  }
  const workers: PoolWorker[] = [];
  try {
    for (let i = 0; i < Math.max(1, availableParallelism()); i++) {
      // execArgv: [] — the workers need none of the parent's loaders or flags (tsx, --inspect, …).
      const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
      const entry: PoolWorker = { worker, busy: 0 };
      worker.on('message', (msg: { id: number; out?: Uint8Array; error?: string; code?: string }) => {
        // An idle worker must not keep the process alive.
        if (--entry.busy === 0) worker.unref();
        const job = pending.get(msg.id);
        pending.delete(msg.id);
        if (!job) return;
        if (msg.out) job.resolve([msg.out]);
        else job.reject(Object.assign(new Error(msg.error ?? 'compression failed'), msg.code ? { code: msg.code } : {}));
      });
      worker.on('error', (err) => failPool(err));
      worker.on('exit', () => failPool(new Error('a compression worker exited')));
      worker.unref();
      workers.push(entry);
    }
  } catch {
    for (const w of workers) void w.worker.terminate();
    return undefined;
  }
  return workers;
}

/** A broken pool rejects the blocks it holds; later blocks go to the thread pool. */
function failPool(err: unknown): void {
  pool = Promise.resolve(undefined);
  for (const job of pending.values()) job.reject(err);
  pending.clear();
}

function workerExecutor(workers: PoolWorker[]): BlockExecutor {
  return {
    kind: 'workers',
    compress({ block, window, runs, level }) {
      return new Promise((resolve, reject) => {
        let target = workers[0]!;
        for (const w of workers) if (w.busy < target.busy) target = w;
        const id = nextId++;
        pending.set(id, { resolve, reject });
        if (target.busy++ === 0) target.worker.ref();
        // The block's memory moves to the worker (no copy); the window is small and copied.
        target.worker.postMessage({ id, block, window, runs, level }, [block.buffer as ArrayBuffer]);
      });
    },
  };
}

/**
 * The executor to use: worker threads when they start (once per process),
 * else libuv's thread pool. `prefer: 'threadpool'` skips the workers.
 */
export async function blockExecutor(prefer: 'workers' | 'threadpool' = 'workers'): Promise<BlockExecutor> {
  if (prefer === 'workers') {
    pool ??= startPool();
    const workers = await pool;
    if (workers) return workerExecutor(workers);
  }
  return threadPoolExecutor();
}
