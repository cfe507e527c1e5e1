/**
 * Writing extracted files: small files are gathered in memory and written by
 * a bounded number of concurrent jobs on the thread pool, so file creation
 * (the costly system call) overlaps with decompression and with each other;
 * large files are streamed in place.
 * @module
 */
import fs, { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Entry } from '../entry.js';
import { InvalidEntryError } from '../errors.js';
import type { MetadataPolicy } from './disk.js';
import { batchRing, type BatchFile, type BatchRing } from './file-batches.js';

type Step = (err: NodeJS.ErrnoException | null) => void;

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
// Read once: the mode a new file gets is the requested one less these bits.
const UMASK = process.umask();
// Read once too: each call is a system call, and they were two per extracted file.
const OWN_UID = process.getuid?.();
const OWN_GID = process.getgid?.();
/** Files up to this size are gathered and written by a background job. */
const SMALL = 1 << 20;
const MAX_JOBS = 16;
const MAX_BYTES = 32 << 20;

/** A batch is sent when it holds this many bytes or files. */
const BATCH_BYTES = 1 << 20;
const BATCH_FILES = 128;
/** Shared with the worker: room for a few batches of up to BATCH_BYTES + SMALL bytes each. */
const RING_BYTES = 8 << 20;

/** Writes new files (never existing ones: `O_EXCL|O_NOFOLLOW`) with their owner, mode and mtime. */
export class FileWriter {
  readonly #jobs = new Set<Promise<void>>();
  #bytes = 0;
  #error: unknown;
  #ring: Promise<BatchRing | undefined> | undefined;
  /** The batch being filled: its files' bytes are `ring[start, #head)`. */
  #batch: { files: BatchFile[]; start: number } | undefined;
  #head = 0;
  /** Regions of the ring the worker has not written out yet, oldest first. */
  readonly #inFlight: Array<{ start: number; end: number; done: Promise<void> }> = [];

  constructor(readonly policy: MetadataPolicy) {}

  /** Writes `entry`'s content from `body` to `host`; may return before the write is done (see {@link FileWriter.drain}). */
  async write(host: string, body: AsyncIterable<Uint8Array>, entry: Entry): Promise<void> {
    if (this.#error) throw this.#error;
    if (entry.size > SMALL) {
      await this.#stream(host, body, entry);
      return;
    }
    const ring = await (this.#ring ??= batchRing(RING_BYTES));
    if (ring) {
      await this.#addToBatch(ring, host, body, entry);
      return;
    }
    // The body's chunks are views of the decompressed stream that nothing writes to again: a body
    // that arrives in one piece (most small files) is written from where it is, without a copy.
    const chunks: Uint8Array[] = [];
    let filled = 0;
    for await (const chunk of body) {
      if (filled + chunk.byteLength > entry.size) throw new InvalidEntryError(entry.path, `more than ${entry.size} bytes of content`, 'CONTENT_SIZE_MISMATCH');
      if (chunk.byteLength > 0) chunks.push(chunk);
      filled += chunk.byteLength;
    }
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, filled);
    while (this.#jobs.size >= MAX_JOBS || (this.#bytes > MAX_BYTES && this.#jobs.size > 0)) await Promise.race(this.#jobs);
    if (this.#error) throw this.#error;
    this.#bytes += data.byteLength;
    const job: Promise<void> = this.#small(host, data, entry)
      .catch((err: unknown) => {
        this.#error ??= err;
      })
      .finally(() => {
        this.#jobs.delete(job);
        this.#bytes -= data.byteLength;
      });
    this.#jobs.add(job);
  }

  /** Waits for every pending write; throws the first failure. */
  async drain(): Promise<void> {
    const ring = await this.#ring;
    if (ring && !this.#error) this.#send(ring);
    while (this.#jobs.size > 0) await Promise.all(this.#jobs);
    if (this.#error) throw this.#error;
  }

  /** Copies the file's bytes into the current batch; sends the batch when it is full. */
  async #addToBatch(ring: BatchRing, host: string, body: AsyncIterable<Uint8Array>, entry: Entry): Promise<void> {
    // A batch's bytes are contiguous: one that would run past the end of the ring is sent, and the next starts at 0.
    if (this.#head + entry.size > ring.bytes.byteLength) {
      this.#send(ring);
      this.#head = 0;
    }
    const end = this.#head + entry.size;
    for (let oldest = this.#inFlight[0]; oldest && this.#overlapsInFlight(this.#head, end); oldest = this.#inFlight[0]) await oldest.done;
    if (this.#error) throw this.#error;
    const batch = (this.#batch ??= { files: [], start: this.#head });
    const start = this.#head;
    let used = start;
    for await (const chunk of body) {
      if (used + chunk.byteLength > end) throw new InvalidEntryError(entry.path, `more than ${entry.size} bytes of content`, 'CONTENT_SIZE_MISMATCH');
      ring.bytes.set(chunk, used);
      used += chunk.byteLength;
    }
    this.#head = used;
    const mode = entry.mode & 0o7777;
    const chown = this.policy.owners && (entry.uid !== OWN_UID || entry.gid !== OWN_GID);
    batch.files.push({
      path: host,
      perm: mode & 0o777,
      // Owner first (chown clears set-id bits), then the mode if creation did not give it, then the mtime.
      chmod: mode !== (mode & 0o777 & ~UMASK) ? mode : -1,
      uid: chown ? entry.uid : -1,
      gid: chown ? entry.gid : -1,
      mtime: entry.mtime,
      start,
      length: used - start,
    });
    if (this.#head - batch.start >= BATCH_BYTES || batch.files.length >= BATCH_FILES) this.#send(ring);
  }

  #overlapsInFlight(start: number, end: number): boolean {
    return this.#inFlight.some((region) => start < region.end && region.start < end);
  }

  #send(ring: BatchRing): void {
    const batch = this.#batch;
    this.#batch = undefined;
    if (!batch || batch.files.length === 0) return;
    const done: Promise<void> = ring
      .write(batch.files)
      .catch((err: unknown) => {
        this.#error ??= err;
      })
      .finally(() => {
        this.#jobs.delete(done);
        this.#inFlight.splice(this.#inFlight.findIndex((region) => region.done === done), 1);
      });
    this.#inFlight.push({ start: batch.start, end: this.#head, done });
    this.#jobs.add(done);
  }

  /** Waits for every pending write, ignoring failures (before cleaning up after another error). */
  async settle(): Promise<void> {
    while (this.#jobs.size > 0) await Promise.allSettled(this.#jobs);
    (await this.#ring?.catch(() => undefined))?.close();
  }

  /**
   * open, write, (fchown, fchmod,) futimes, close — with the callback API:
   * no FileHandle object and one promise per file instead of one per call,
   * which matters at thousands of small files.
   */
  #small(host: string, data: Uint8Array, entry: Entry): Promise<void> {
    const mode = entry.mode & 0o7777;
    const chown = this.policy.owners && (entry.uid !== OWN_UID || entry.gid !== OWN_GID);
    const chmod = mode !== (mode & 0o777 & ~UMASK);
    return new Promise((resolve, reject) => {
      fs.open(host, CREATE, mode & 0o777, (openError, fd) => {
        if (openError) return reject(openError);
        const fail = (err: unknown) => fs.close(fd, () => reject(err));
        let offset = 0;
        const steps: Array<(next: Step) => void> = [];
        if (chown) steps.push((next) => fs.fchown(fd, entry.uid, entry.gid, next));
        if (chmod) steps.push((next) => fs.fchmod(fd, mode, next));
        steps.push((next) => fs.futimes(fd, entry.mtime, entry.mtime, next));
        const run = (i: number): void => {
          if (i === steps.length) return fs.close(fd, (err) => (err ? reject(err) : resolve()));
          steps[i]!((err) => (err ? fail(err) : run(i + 1)));
        };
        const write = (): void => {
          if (offset >= data.byteLength) return run(0);
          fs.write(fd, data, offset, data.byteLength - offset, null, (err, written) => {
            if (err) return fail(err);
            offset += written;
            write();
          });
        };
        write();
      });
    });
  }

  async #stream(host: string, body: AsyncIterable<Uint8Array>, entry: Entry): Promise<void> {
    const handle = await open(host, CREATE, entry.mode & 0o777);
    try {
      for await (const chunk of body) {
        let offset = 0;
        while (offset < chunk.byteLength) offset += (await handle.write(chunk, offset, chunk.byteLength - offset)).bytesWritten;
      }
      await this.#finish(handle, entry);
    } finally {
      await handle.close();
    }
  }

  /** Owner first (chown clears set-id bits), then the mode if creation did not give it, then the mtime. */
  async #finish(handle: Awaited<ReturnType<typeof open>>, entry: Entry): Promise<void> {
    if (this.policy.owners && (entry.uid !== OWN_UID || entry.gid !== OWN_GID)) await handle.chown(entry.uid, entry.gid);
    const mode = entry.mode & 0o7777;
    if (mode !== (mode & 0o777 & ~UMASK)) await handle.chmod(mode);
    await handle.utimes(entry.mtime, entry.mtime);
  }
}
