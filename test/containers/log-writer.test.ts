/**
 * The detached log writer ({@link LOG_WRITER_SOURCE}) on a disk that fills
 * up and frees again: its times stay true to the bytes of the log. The full
 * disk is a `writeSync` wrapper preloaded into the writer (a size cap on
 * `stdout.log` while the file `cap` exists: short writes, then ENOSPC).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type * as fsModule from 'node:fs';
import { LOG_WRITER_SOURCE, parseTimes, TimedLog, timedLines, timesPath } from '../../src/containers/logs.js';

// A full disk for TimedLog: writes to `cap.path` stop at `cap.size` bytes (short writes, then ENOSPC).
const disk = vi.hoisted(() => ({ cap: undefined as { path: string; size: number } | undefined }));
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof fsModule>();
  const paths = new Map<number, string>();
  const openSync = ((p: string, ...rest: unknown[]) => {
    const fd = (real.openSync as (...a: unknown[]) => number)(p, ...rest);
    paths.set(fd, String(p));
    return fd;
  }) as typeof real.openSync;
  const writeSync = ((fd: number, buf: Uint8Array, off?: number, len?: number, ...rest: unknown[]) => {
    const cap = disk.cap;
    if (cap && paths.get(fd) === cap.path) {
      const room = cap.size - real.fstatSync(fd).size;
      if (room <= 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      if (room < (len ?? buf.byteLength)) return real.writeSync(fd, buf, off, room);
    }
    return (real.writeSync as (...a: unknown[]) => number)(fd, buf, off, len, ...rest);
  }) as typeof real.writeSync;
  return { ...real, default: { ...real, openSync, writeSync }, openSync, writeSync };
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const FULL_DISK = String.raw`
const fs = require('node:fs');
const dir = process.argv[1];
const paths = new Map();
const open = fs.openSync;
fs.openSync = (p, ...rest) => { const fd = open(p, ...rest); paths.set(fd, String(p)); return fd; };
const write = fs.writeSync;
fs.writeSync = (fd, buf, off, len, ...rest) => {
  const p = paths.get(fd) ?? '';
  if (p.endsWith('stdout.log') && fs.existsSync(dir + '/cap')) {
    const room = Number(fs.readFileSync(dir + '/cap', 'utf8')) - fs.fstatSync(fd).size;
    if (room <= 0) {
      fs.appendFileSync(dir + '/faults', 'x');
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    if (room < len) return write(fd, buf, off, room);
  }
  return write(fd, buf, off, len, ...rest);
};
`;

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; !what(); i++) {
    if (i > 3000) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the log writer on a full disk', () => {
  it('records the next chunk where the log really ends, after a short write and a failed one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lk-logwriter-'));
    dirs.push(dir);
    const preload = join(dir, 'full-disk.cjs');
    writeFileSync(preload, FULL_DISK);
    writeFileSync(join(dir, 'cap'), '10');
    // Each line once the test has seen the one before, so that each is a chunk of its own.
    const script = 'echo aaaa; until [ -e s1 ]; do sleep 0.01; done; echo bbbbbbbb; until [ -e s2 ]; do sleep 0.01; done; echo cccc; until [ -e s3 ]; do sleep 0.01; done; echo dddd; until [ -e s4 ]; do sleep 0.01; done; echo eeee';
    const child = spawn(process.execPath, ['-r', preload, '-e', LOG_WRITER_SOURCE, '--', dir, 'sh', '-c', `cd ${dir} && ${script}`], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const log = join(dir, 'stdout.log');
    const records = () => (existsSync(timesPath(log)) ? parseTimes(readFileSync(timesPath(log), 'latin1')) : []);
    const faults = () => (existsSync(join(dir, 'faults')) ? readFileSync(join(dir, 'faults'), 'utf8').length : 0);
    await until(() => records().length === 1 && statSync(log).size === 5);
    writeFileSync(join(dir, 's1'), '');
    await until(() => faults() === 1); // bbbb…: 5 bytes fit, then ENOSPC
    writeFileSync(join(dir, 's2'), '');
    await until(() => faults() === 2); // cccc: nothing fits
    rmSync(join(dir, 'cap')); // the disk has room again
    writeFileSync(join(dir, 's3'), '');
    await until(() => records().length === 4 && statSync(log).size === 15);
    writeFileSync(join(dir, 's4'), '');
    expect(await exited).toBe(0);
    const bytes = readFileSync(log);
    expect(bytes.toString()).toBe('aaaa\nbbbbbdddd\neeee\n');
    const times = records();
    // Each record where its chunk's bytes start (or would have, at the end then).
    expect(times.map((r) => r.offset)).toEqual([0, 5, 10, 10, 15]);
    expect(times.every((r) => r.offset <= bytes.length)).toBe(true);
    const { lines } = timedLines('stdout', bytes, 0, times, 0n, true);
    expect(lines.map((l) => [Buffer.from(l.bytes).toString(), l.time])).toEqual([
      ['aaaa\n', times[0]!.time],
      ['bbbbbdddd\n', times[1]!.time],
      ['eeee\n', times[4]!.time],
    ]);
  }, 60_000);
});

describe('TimedLog', () => {
  it('after a short write and a failed one, records the next chunk at the real end of the log', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lk-timedlog-'));
    dirs.push(dir);
    const log = join(dir, 'stdout.log');
    const timed = new TimedLog(log);
    timed.write(Buffer.from('aaaa\n'));
    disk.cap = { path: log, size: 10 };
    try {
      timed.write(Buffer.from('bbbbbbbb\n'));
      timed.write(Buffer.from('cccc\n'));
    } finally {
      disk.cap = undefined;
    }
    timed.write(Buffer.from('dddd\n'));
    timed.write(Buffer.from('eeee\n'));
    timed.close();
    expect(readFileSync(log, 'utf8')).toBe('aaaa\nbbbbbdddd\neeee\n');
    expect(parseTimes(readFileSync(timesPath(log), 'latin1')).map((r) => r.offset)).toEqual([0, 5, 10, 10, 15]);
  });

  it('cuts off a record written only in part, so that it does not join the next one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lk-timedlog-'));
    dirs.push(dir);
    const log = join(dir, 'stdout.log');
    const timed = new TimedLog(log);
    timed.write(Buffer.from('aaaa\n'));
    disk.cap = { path: timesPath(log), size: statSync(timesPath(log)).size + 3 };
    try {
      timed.write(Buffer.from('bbbb\n'));
    } finally {
      disk.cap = undefined;
    }
    timed.write(Buffer.from('cccc\n'));
    timed.close();
    const text = readFileSync(timesPath(log), 'latin1');
    expect(text.split('\n').every((l) => l === '' || /^\d+ \d+$/.test(l))).toBe(true);
    expect(parseTimes(text).map((r) => r.offset)).toEqual([0, 10]);
  });
});
