/**
 * Container logs with times. Each stream's bytes stay as the container
 * wrote them (`stdout.log`, `stderr.log`, readable as they are); beside
 * each, `<stream>.log.times` records when each chunk arrived: one line
 * `OFFSET NANOSECONDS` (the chunk's first byte in the log, Unix time in
 * nanoseconds) per chunk, written before the chunk. A line of the log has
 * the time of the chunk it starts in, as Docker's log copier stamps a
 * message when it reads it. Bytes no record covers (logs written before
 * times were kept) have the container's creation time.
 *
 * The times come from the process that reads the container's output: the
 * attaching process for `run`/`start -a`, and for a detached container a
 * small Node process that spawns the supervisor with its output on pipes
 * ({@link LOG_WRITER_SOURCE}), as conmon sits between podman's containers
 * and their logs.
 * @module
 */
import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { ContainerError } from './errors.js';

/** The times file of a log. */
export function timesPath(logPath: string): string {
  return `${logPath}.times`;
}

/** Nanoseconds since the epoch, from a monotonic clock anchored once to the wall clock. */
const anchor = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
function nowNs(): bigint {
  return anchor + process.hrtime.bigint();
}

/**
 * Appends chunks of one stream to its log and their times to its times
 * file (synchronously, so that the two stay in step whatever else runs).
 * A write that fails (a full disk) loses the chunk or its end, never the
 * agreement of the two files: the next record is at the log's real end,
 * and a record cut short is cut off; when that cannot be done, the
 * stream's times stop (its later lines read with the last time recorded).
 */
export class TimedLog {
  readonly #fd: number;
  readonly #times: number;
  #offset: number;
  #timesSize: number;
  #timed = true;

  constructor(logPath: string) {
    this.#fd = openSync(logPath, 'a');
    this.#times = openSync(timesPath(logPath), 'a');
    this.#offset = fstatSync(this.#fd).size;
    this.#timesSize = fstatSync(this.#times).size;
  }

  write(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    if (this.#timed) {
      const record = Buffer.from(`${this.#offset} ${nowNs()}\n`);
      try {
        writeAll(this.#times, record);
        this.#timesSize += record.byteLength;
      } catch {
        // A partial record would join the next one into a wrong line.
        try {
          ftruncateSync(this.#times, this.#timesSize);
        } catch {
          this.#timed = false;
        }
      }
    }
    try {
      writeAll(this.#fd, chunk);
      this.#offset += chunk.byteLength;
    } catch {
      // Some of the chunk may be there: go on from where the log really ends.
      try {
        this.#offset = fstatSync(this.#fd).size;
      } catch {
        this.#timed = false;
      }
    }
  }

  close(): void {
    closeSync(this.#fd);
    closeSync(this.#times);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, bytes.byteLength - done);
}

/**
 * The program of a detached container's log writer (`node -e SOURCE --
 * DIR COMMAND…`): runs COMMAND with its stdout and stderr on pipes, appends
 * them to DIR's logs as {@link TimedLog} does, makes `DIR/logs.done` once
 * both pipes are closed (the supervisor waits for it before it records the
 * exit), and exits with COMMAND. Self-contained (no imports of ours): it runs from
 * a source string, wherever the package is installed.
 */
export const LOG_WRITER_SOURCE = String.raw`
'use strict';
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const [dir, ...command] = process.argv.slice(1);
const anchor = BigInt(Date.now()) * 1000000n - process.hrtime.bigint();
const writeAll = (fd, b) => { for (let d = 0; d < b.length; ) d += fs.writeSync(fd, b, d, b.length - d); };
const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/', env: process.env });
let open = 2;
for (const name of ['stdout', 'stderr']) {
  const fd = fs.openSync(dir + '/' + name + '.log', 'a');
  const times = fs.openSync(dir + '/' + name + '.log.times', 'a');
  // As TimedLog.write: after a failed write (a full disk) the records stay true to the log.
  let offset = fs.fstatSync(fd).size;
  let timesSize = fs.fstatSync(times).size;
  let timed = true;
  child[name].on('data', (chunk) => {
    if (timed) {
      const record = Buffer.from(offset + ' ' + (anchor + process.hrtime.bigint()) + '\n');
      try {
        writeAll(times, record);
        timesSize += record.length;
      } catch {
        try { fs.ftruncateSync(times, timesSize); } catch { timed = false; }
      }
    }
    try {
      writeAll(fd, chunk);
      offset += chunk.length;
    } catch {
      try { offset = fs.fstatSync(fd).size; } catch { timed = false; }
    }
  });
  child[name].on('close', () => {
    fs.closeSync(fd);
    fs.closeSync(times);
    if (--open === 0) try { fs.writeFileSync(dir + '/logs.done', ''); } catch {}
  });
}
child.on('error', () => { process.exitCode = 1; });
child.on('exit', (c) => { process.exitCode = c ?? 128; });
`;

/** One line of a log (or its unterminated end), with its time. */
export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** Unix time in nanoseconds. */
  time: bigint;
  bytes: Uint8Array;
}

/** The chunk records of a times file: offsets ascending, times in nanoseconds. */
export function parseTimes(text: string): Array<{ offset: number; time: bigint }> {
  const out: Array<{ offset: number; time: bigint }> = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+) (\d+)$/.exec(line);
    if (m) out.push({ offset: Number(m[1]), time: BigInt(m[2]!) });
  }
  return out;
}

/**
 * Splits `bytes` (a log from offset `start`) into lines, each with the
 * time of the chunk its first byte is in (`fallback` before the first
 * record). The last line is returned without a newline only when `partial`
 * allows it; otherwise it is left for later (its length is `rest`).
 */
export function timedLines(
  stream: 'stdout' | 'stderr',
  bytes: Uint8Array,
  start: number,
  times: ReadonlyArray<{ offset: number; time: bigint }>,
  fallback: bigint,
  partial: boolean,
): { lines: LogLine[]; rest: number } {
  const lines: LogLine[] = [];
  let r = 0;
  const timeAt = (offset: number): bigint => {
    while (r + 1 < times.length && times[r + 1]!.offset <= offset) r++;
    const rec = times[r];
    return rec !== undefined && rec.offset <= offset ? rec.time : fallback;
  };
  let from = 0;
  while (from < bytes.length) {
    const nl = bytes.indexOf(0x0a, from);
    if (nl < 0 && !partial) break;
    const end = nl < 0 ? bytes.length : nl + 1;
    lines.push({ stream, time: timeAt(start + from), bytes: bytes.subarray(from, end) });
    from = end;
  }
  return { lines, rest: bytes.length - from };
}

/** Lines of both streams in time order (stdout first on equal times; each stream's order kept). */
export function mergeLines(a: LogLine[], b: LogLine[]): LogLine[] {
  const out: LogLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]!.time <= b[j]!.time)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

/**
 * A time as Docker prints it in `docker logs -t`: RFC 3339 in UTC with
 * nine digits of nanoseconds.
 *
 * @example
 * ```ts
 * formatLogTime(1700000000123456789n); // '2023-11-14T22:13:20.123456789Z'
 * ```
 */
export function formatLogTime(ns: bigint): string {
  const seconds = ns / 1_000_000_000n;
  const nanos = ns % 1_000_000_000n;
  const iso = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${iso}.${nanos.toString().padStart(9, '0')}Z`;
}

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's `time.ParseDuration`, in nanoseconds (undefined when `text` is not a duration). */
export function parseGoDuration(text: string): bigint | undefined {
  const m = /^([-+]?)((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(text);
  if (!m) return text === '0' || text === '+0' || text === '-0' ? 0n : undefined;
  let total = 0;
  for (const part of m[2]!.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(part[1]) * UNIT_NS[part[2]!]!;
  const ns = BigInt(Math.round(total));
  return m[1] === '-' ? -ns : ns;
}

function invalidTime(flag: string, text: string, reason: string): ContainerError {
  return new ContainerError('INVALID_OPTION', `invalid value for ${flag}: ${JSON.stringify(text)}: ${reason}`, { reason });
}

/** The offset of the local time zone at `utcMs`, in minutes east of UTC. */
function localOffsetMinutes(utcMs: number): number {
  return -new Date(utcMs).getTimezoneOffset();
}

/**
 * A `docker logs --since`/`--until` value, as Docker reads it, in Unix
 * nanoseconds: a Go duration before `now` (`10m`, `1h30m`, `1.5h`), a Unix
 * time (`1700000000`, `1700000000.5`), or an RFC 3339 date and time with
 * or without fractional seconds and zone (`2024-05-01T12:00:00Z`,
 * `2024-05-01T12:00:00.123456789+02:00`, `2024-05-01T12:00`, `2024-05-01`,
 * in the local zone when no zone is given). `0` is the Unix epoch.
 *
 * @throws {@link ContainerError} `INVALID_OPTION`.
 * @example
 * ```ts
 * parseLogTime('10m', Date.now());               // ten minutes ago
 * parseLogTime('2024-05-01T12:00:00Z', 0);       // 1714564800000000000n
 * parseLogTime('1714564800.5', 0);               // 1714564800500000000n
 * ```
 */
export function parseLogTime(text: string, nowMs: number, flag = '--since'): bigint {
  const value = text.trim();
  if (value !== '0') {
    const d = parseGoDuration(value);
    if (d !== undefined) return BigInt(nowMs) * 1_000_000n - d;
  }
  const unix = /^(\d+)(?:\.(\d{1,9}))?$/.exec(value);
  if (unix) return BigInt(unix[1]!) * 1_000_000_000n + BigInt((unix[2] ?? '').padEnd(9, '0') || '0');
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|z|[+-]\d{2}:\d{2})?$/.exec(value);
  if (!m) throw invalidTime(flag, text, 'expected an RFC 3339 time, a Unix time (seconds[.nanoseconds]) or a duration such as 10m or 1h30m');
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const fields = [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s)] as const;
  if (fields[1] < 1 || fields[1] > 12 || fields[2] < 1 || fields[2] > 31 || fields[3] > 23 || fields[4] > 59 || fields[5] > 59) throw invalidTime(flag, text, 'a field is out of range');
  const asUtc = Date.UTC(fields[0], fields[1] - 1, fields[2], fields[3], fields[4], fields[5]);
  if (new Date(asUtc).getUTCDate() !== fields[2]) throw invalidTime(flag, text, 'no such day');
  let offsetMin: number;
  if (zone === undefined) {
    // Local wall time: the zone's offset at that moment (twice, across a change of offset).
    offsetMin = localOffsetMinutes(asUtc - localOffsetMinutes(asUtc) * 60_000);
  } else if (zone === 'Z' || zone === 'z') {
    offsetMin = 0;
  } else {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMin = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  const ms = asUtc - offsetMin * 60_000;
  return BigInt(ms) * 1_000_000n + BigInt(frac.padEnd(9, '0') || '0');
}

// --- reading a log in bounded pieces ------------------------------------------

/** How much of a log (or times file) one read takes: a log is never read whole. */
export const LOG_READ_BLOCK = 1 << 20;

/** Up to `length` bytes of `path` from `offset` (fewer at its end; none when it is missing). */
async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return Buffer.alloc(0);
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function sizeOf(path: string): Promise<number> {
  return (await stat(path).catch(() => undefined))?.size ?? 0;
}

/**
 * One stream of a container's log, read forwards from where it was left in
 * blocks of {@link LOG_READ_BLOCK}, its times file beside it as far as the
 * lines read need; or its last lines, read backwards ({@link tail}).
 */
export class LogReader {
  /** Where the next line starts. */
  offset = 0;
  /** How far the times file is read (whole records). */
  #timesRead = 0;
  /** Records from the last one at or before `offset` on. */
  #records: Array<{ offset: number; time: bigint }> = [];
  readonly #times: string;

  constructor(
    readonly stream: 'stdout' | 'stderr',
    readonly path: string,
    /** The time of bytes no record covers. */
    readonly fallback: bigint,
  ) {
    this.#times = timesPath(path);
  }

  /**
   * The next lines from `offset` (at least one while a whole line is there;
   * the unterminated end too when `partial`), or none at the log's end.
   */
  async next(partial: boolean): Promise<LogLine[]> {
    for (let length = LOG_READ_BLOCK; ; length *= 2) {
      const bytes = await readAt(this.path, this.offset, length);
      const atEnd = bytes.length < length;
      if (bytes.length === 0) return [];
      await this.#readTimes(this.offset + bytes.length);
      const { lines, rest } = timedLines(this.stream, bytes, this.offset, this.#records, this.fallback, partial && atEnd);
      if (lines.length === 0 && !atEnd) continue; // a line longer than a block
      this.offset += bytes.length - rest;
      this.#trim();
      return lines;
    }
  }

  /** Reads records until one is past `end` (or the times file ends). */
  async #readTimes(end: number): Promise<void> {
    while ((this.#records.at(-1)?.offset ?? -1) < end) {
      const more = await readAt(this.#times, this.#timesRead, LOG_READ_BLOCK);
      const whole = more.lastIndexOf(0x0a) + 1;
      if (whole === 0) return;
      this.#timesRead += whole;
      this.#records.push(...parseTimes(more.subarray(0, whole).toString('latin1')));
    }
  }

  #trim(): void {
    let keep = 0;
    while (keep + 1 < this.#records.length && this.#records[keep + 1]!.offset <= this.offset) keep++;
    if (keep > 0) this.#records = this.#records.slice(keep);
  }

  /**
   * The last `n` lines (the unterminated end among them when `partial`),
   * read backwards from the end in blocks, and the times they need from
   * the end of the times file; `offset` is left after them.
   */
  async tail(n: number, partial: boolean): Promise<LogLine[]> {
    const size = await sizeOf(this.path);
    const newlines = newlinesBackward(this.path, size);
    let end = size;
    if (!partial) {
      // The unterminated end waits for its newline.
      const last = await newlines.next();
      end = last.done ? 0 : last.value + 1;
    }
    let start = end;
    if (n > 0 && end > 0) {
      start = 0;
      let count = 0;
      for (;;) {
        const nl = await newlines.next();
        if (nl.done) break;
        if (nl.value + 1 >= end) continue;
        if (++count === n) {
          start = nl.value + 1;
          break;
        }
      }
    }
    await newlines.return(undefined);
    const bytes = await readAt(this.path, start, end - start);
    await this.#timesBackTo(start);
    const { lines, rest } = timedLines(this.stream, bytes, start, this.#records, this.fallback, partial);
    this.offset = start + bytes.length - rest;
    this.#trim();
    return lines;
  }

  /** The records of the times file's end back to the last one at or before `start`. */
  async #timesBackTo(start: number): Promise<void> {
    const size = await sizeOf(this.#times);
    const head = await readAt(this.#times, Math.max(0, size - LOG_READ_BLOCK), Math.min(size, LOG_READ_BLOCK));
    // Whole records only: a record being written is read later.
    let to = Math.max(0, size - LOG_READ_BLOCK) + head.lastIndexOf(0x0a) + 1;
    this.#timesRead = to;
    const records: Array<{ offset: number; time: bigint }> = [];
    while (to > 0) {
      const from = Math.max(0, to - LOG_READ_BLOCK);
      const block = await readAt(this.#times, from, to - from);
      // From the first whole record in the block (the one before it is cut).
      const first = from === 0 ? 0 : block.indexOf(0x0a) + 1;
      const parsed = parseTimes(block.subarray(first).toString('latin1'));
      records.unshift(...parsed);
      to = from + first;
      if (parsed.length > 0 && parsed[0]!.offset <= start) break;
      if (first === 0 && from > 0) break; // a record longer than a block: not a times file
    }
    this.#records = records;
  }
}

/** The offsets of the newlines of `path` before `end`, last first, read backwards in blocks. */
async function* newlinesBackward(path: string, end: number): AsyncGenerator<number, void, undefined> {
  for (let to = end; to > 0; ) {
    const from = Math.max(0, to - LOG_READ_BLOCK);
    const block = await readAt(path, from, to - from);
    for (let i = block.length - 1; i >= 0; ) {
      const nl = block.lastIndexOf(0x0a, i);
      if (nl < 0) break;
      yield from + nl;
      i = nl - 1;
    }
    to = from;
  }
}

/**
 * Lines of both streams in time order (stdout first on equal times), read
 * as they are needed: at most a block of each stream in memory.
 */
export async function* mergeReaders(a: LogReader, b: LogReader, partial: boolean): AsyncGenerator<LogLine> {
  const bufs: [LogLine[], LogLine[]] = [[], []];
  const at = [0, 0];
  const readers = [a, b] as const;
  const done = [false, false];
  const head = async (k: 0 | 1): Promise<LogLine | undefined> => {
    if (at[k]! >= bufs[k].length && !done[k]) {
      bufs[k] = await readers[k].next(partial);
      at[k] = 0;
      if (bufs[k].length === 0) done[k] = true;
    }
    return bufs[k][at[k]!];
  };
  for (;;) {
    const x = await head(0);
    const y = await head(1);
    if (x === undefined && y === undefined) return;
    if (y === undefined || (x !== undefined && x.time <= y.time)) {
      at[0]!++;
      yield x!;
    } else {
      at[1]!++;
      yield y;
    }
  }
}
