/**
 * `containerLogs` on a container directory made by hand (a running
 * container: this process is its supervisor), so that what reaches the log
 * between two reads is under the test's control.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as fsp from 'node:fs/promises';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mergeLines, parseTimes, timedLines } from '../../src/containers/logs.js';
import type { ContainerRuntime } from '../../src/containers/runtime.js';
import { containerLogs } from '../../src/containers/verbs.js';

// Every read of a file through a handle, counted (the log reader's only way in).
const reads = vi.hoisted(() => ({ total: 0, largest: 0 }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof fsp>();
  const open = (async (...args: Parameters<typeof real.open>) => {
    const handle = await real.open(...args);
    const read = handle.read.bind(handle) as (...a: unknown[]) => Promise<{ bytesRead: number; buffer: Buffer }>;
    (handle as unknown as { read: unknown }).read = async (...a: unknown[]) => {
      const got = await read(...a);
      reads.total += got.bytesRead;
      reads.largest = Math.max(reads.largest, got.bytesRead);
      return got;
    };
    return handle;
  }) as typeof real.open;
  return { ...real, default: { ...real, open }, open };
});
beforeEach(() => {
  reads.total = 0;
  reads.largest = 0;
});

const ID = 'a'.repeat(64);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A running container `logged` with empty timed logs; returns the runtime and the container's directory. */
function fakeContainer(): { runtime: ContainerRuntime; dir: string } {
  const root = mkdtempSync(join(tmpdir(), 'lk-logs-'));
  dirs.push(root);
  const dir = join(root, ID);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ id: ID, name: 'logged', created: new Date().toISOString() }));
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ supervisorPid: process.pid, startedAt: new Date().toISOString() }));
  for (const s of ['stdout', 'stderr']) {
    writeFileSync(join(dir, `${s}.log`), '');
    writeFileSync(join(dir, `${s}.log.times`), '');
  }
  return { runtime: { root } as ContainerRuntime, dir };
}

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

function append(dir: string, text: string, time: bigint): void {
  const size = statSync(join(dir, 'stdout.log')).size;
  appendFileSync(join(dir, 'stdout.log.times'), `${size} ${time}\n`);
  appendFileSync(join(dir, 'stdout.log'), text);
}

describe('containerLogs -f --until', () => {
  it('shows the lines stamped up to --until that came after the last read before it stopped', async () => {
    const { runtime, dir } = fakeContainer();
    const until = nowNs() + 300_000_000n;
    append(dir, 'first\n', nowNs());
    const out: string[] = [];
    await containerLogs(
      runtime,
      'logged',
      (_stream, bytes) => {
        const text = Buffer.from(bytes).toString();
        out.push(text);
        if (text === 'first\n') {
          // Written (and stamped) before --until, right after a read; then --until passes.
          append(dir, 'second\n', nowNs());
          while (nowNs() <= until) {
            /* wait for --until to pass */
          }
          append(dir, 'third\n', nowNs());
        }
      },
      { follow: true, until, intervalMs: 20 },
    );
    expect(out.join('')).toBe('first\nsecond\n');
  });
});

describe('containerLogs reads in bounded pieces', () => {
  it('--tail 2 of a 50 MB log reads a few MiB from its end; reading it all never takes more than a block at a time', async () => {
    const { runtime, dir } = fakeContainer();
    writeFileSync(join(dir, 'state.json'), '{}');
    const line = Buffer.from(`${'x'.repeat(99)}\n`);
    const block = Buffer.concat(Array.from({ length: 655 }, () => line)); // 65,500 bytes
    const t0 = 1_700_000_000_000_000_000n;
    const parts: Buffer[] = [];
    let times = '';
    for (let i = 0; i < 800; i++) {
      times += `${i * block.length} ${t0 + BigInt(i) * 1000n}\n`;
      parts.push(block);
    }
    parts.push(Buffer.from('last out\n'));
    times += `${800 * block.length} ${t0 + 900_000n}\n`;
    writeFileSync(join(dir, 'stdout.log'), Buffer.concat(parts));
    writeFileSync(join(dir, 'stdout.log.times'), times);
    writeFileSync(join(dir, 'stderr.log'), 'early err\nlate err\n');
    writeFileSync(join(dir, 'stderr.log.times'), `0 ${t0 + 1n}\n10 ${t0 + 850_000n}\n`);
    const size = 800 * block.length;
    expect(size).toBeGreaterThan(50_000_000);

    const tail: string[] = [];
    await containerLogs(runtime, 'logged', (stream, bytes) => tail.push(`${stream}:${Buffer.from(bytes).toString()}`), { tail: 2 });
    expect(tail).toEqual(['stderr:late err\n', 'stdout:last out\n']);
    expect(reads.total).toBeLessThan(size / 10);

    reads.total = 0;
    let count = 0;
    let bytes = 0;
    const order: string[] = [];
    await containerLogs(runtime, 'logged', (stream, b) => {
      count++;
      bytes += b.byteLength;
      if (stream === 'stderr' || b.byteLength !== 100) order.push(`${stream}:${count}`);
    });
    expect(count).toBe(800 * 655 + 3);
    expect(bytes).toBe(size + 9 + 19);
    // early err after the first chunk's lines (its time is between the first two records), late err before the last line.
    expect(order).toEqual([`stderr:656`, `stderr:${800 * 655 + 2}`, `stdout:${800 * 655 + 3}`]);
    expect(reads.largest).toBeLessThanOrEqual(2 * 1024 * 1024);
  }, 60_000);

  it('law: --tail N of any two timed logs is the last N of both merged, as reading them whole gives', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom<'stdout' | 'stderr'>('stdout', 'stderr'), fc.stringMatching(/^[a-z\n]{0,12}$/), fc.integer({ min: 0, max: 5 })), { maxLength: 12 }),
        fc.integer({ min: 0, max: 8 }),
        fc.boolean(),
        async (chunks, n, running) => {
          const { runtime, dir } = fakeContainer();
          if (!running) writeFileSync(join(dir, 'state.json'), '{}');
          let time = 1_700_000_000_000_000_000n;
          for (const [stream, text, gap] of chunks) {
            time += BigInt(gap);
            if (text === '') continue;
            const size = statSync(join(dir, `${stream}.log`)).size;
            appendFileSync(join(dir, `${stream}.log.times`), `${size} ${time}\n`);
            appendFileSync(join(dir, `${stream}.log`), text);
          }
          const whole = (['stdout', 'stderr'] as const).map((stream) => {
            const bytes = readFileSync(join(dir, `${stream}.log`));
            return timedLines(stream, bytes, 0, parseTimes(readFileSync(join(dir, `${stream}.log.times`), 'latin1')), 0n, true).lines;
          });
          const merged = mergeLines(whole[0]!, whole[1]!);
          const expected = merged.slice(Math.max(0, merged.length - n)).map((l) => `${l.stream}:${Buffer.from(l.bytes).toString()}`);
          const got: string[] = [];
          await containerLogs(runtime, 'logged', (stream, b) => got.push(`${stream}:${Buffer.from(b).toString()}`), { tail: n });
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 60 },
    );
  });
});
