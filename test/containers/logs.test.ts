/**
 * The times of container logs: Docker's `--since`/`--until` values, the
 * `-t` format, and lines stamped with the chunk they start in.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ContainerError } from '../../src/containers/errors.js';
import { formatLogTime, mergeLines, parseGoDuration, parseLogTime, parseTimes, timedLines } from '../../src/containers/logs.js';

const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);
const ns = (ms: number) => BigInt(ms) * 1_000_000n;

describe('parseLogTime', () => {
  it('reads durations before now, as Go does', () => {
    expect(parseLogTime('10m', NOW)).toBe(ns(NOW - 600_000));
    expect(parseLogTime('1h30m', NOW)).toBe(ns(NOW - 5_400_000));
    expect(parseLogTime('1.5h', NOW)).toBe(ns(NOW - 5_400_000));
    expect(parseLogTime('300ms', NOW)).toBe(ns(NOW - 300));
    expect(parseLogTime('-1h', NOW)).toBe(ns(NOW + 3_600_000));
    expect(parseGoDuration('1h2m3s4ms5us6ns')).toBe(3_723_004_005_006n);
    expect(parseGoDuration('10')).toBeUndefined();
  });

  it('reads Unix times in seconds with up to nine digits of fraction; 0 is the epoch', () => {
    expect(parseLogTime('1714564800', NOW)).toBe(1_714_564_800_000_000_000n);
    expect(parseLogTime('1714564800.5', NOW)).toBe(1_714_564_800_500_000_000n);
    expect(parseLogTime('1714564800.000000001', NOW)).toBe(1_714_564_800_000_000_001n);
    expect(parseLogTime('0', NOW)).toBe(0n);
  });

  it('reads RFC 3339 with and without nanoseconds and zones, and shorter forms', () => {
    expect(parseLogTime('2024-05-01T12:00:00Z', 0)).toBe(ns(NOW));
    expect(parseLogTime('2024-05-01T12:00:00.123456789Z', 0)).toBe(ns(NOW) + 123_456_789n);
    expect(parseLogTime('2024-05-01T14:00:00+02:00', 0)).toBe(ns(NOW));
    expect(parseLogTime('2024-05-01T11:30:00.5-00:30', 0)).toBe(ns(NOW) + 500_000_000n);
    expect(parseLogTime('2024-05-01Z', 0)).toBe(ns(Date.UTC(2024, 4, 1)));
    // No zone: the local one, as Docker (the machine's TZ).
    expect(parseLogTime('2024-05-01T12:00:00', 0)).toBe(ns(new Date(2024, 4, 1, 12, 0, 0).getTime()));
    expect(parseLogTime('2024-05-01T12:00', 0)).toBe(ns(new Date(2024, 4, 1, 12, 0).getTime()));
    expect(parseLogTime('2024-05-01', 0)).toBe(ns(new Date(2024, 4, 1).getTime()));
  });

  it('refuses anything else with a typed error naming the flag', () => {
    for (const bad of ['yesterday', '2024-13-01', '2024-02-30', '10 m', '', '2024-05-01T25:00:00Z', '1714564800.1234567891']) {
      let caught: unknown;
      try {
        parseLogTime(bad, NOW, '--until');
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(ContainerError);
      expect((caught as ContainerError).code).toBe('INVALID_OPTION');
      expect((caught as ContainerError).message).toContain('--until');
    }
  });

  it('law: a time printed by -t reads back as the same time', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 253_402_300_799_999_999_999n }), (t) => {
        const text = formatLogTime(t);
        expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
        expect(parseLogTime(text, 0)).toBe(t);
      }),
    );
  });
});

describe('timed lines', () => {
  it('stamp each line with the chunk its first byte is in; bytes before any record get the fallback', () => {
    const bytes = Buffer.from('old\nab\ncd\nef');
    const times = parseTimes('4 100\n8 200\n');
    const { lines, rest } = timedLines('stdout', bytes, 0, times, 7n, false);
    expect(lines.map((l) => [Buffer.from(l.bytes).toString(), l.time])).toEqual([
      ['old\n', 7n],
      ['ab\n', 100n],
      ['cd\n', 100n],
    ]);
    expect(rest).toBe(2);
    expect(timedLines('stdout', bytes, 0, times, 7n, true).lines.at(-1)?.time).toBe(200n);
  });

  it('law: the lines are the bytes, in order, each ending at a newline (but the last when partial)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(250), { maxLength: 10 }), (bytes, cuts) => {
        const offsets = [...new Set(cuts)].sort((a, b) => a - b);
        const times = offsets.map((offset, i) => ({ offset, time: BigInt(i + 1) }));
        const { lines, rest } = timedLines('stderr', bytes, 0, times, 0n, true);
        expect(rest).toBe(0);
        expect(Buffer.concat(lines.map((l) => l.bytes))).toEqual(Buffer.from(bytes));
        for (const l of lines.slice(0, -1)) expect(l.bytes.at(-1)).toBe(0x0a);
        // Times never go back within a stream.
        for (let i = 1; i < lines.length; i++) expect(lines[i]!.time >= lines[i - 1]!.time).toBe(true);
      }),
    );
  });

  it('law: merging keeps each stream in order and sorts by time', () => {
    const line = fc.nat(20).map((t) => BigInt(t));
    fc.assert(
      fc.property(fc.array(line), fc.array(line), (a, b) => {
        const as = a.sort((x, y) => Number(x - y)).map((time, i) => ({ stream: 'stdout' as const, time, bytes: Buffer.from(`o${i}`) }));
        const bs = b.sort((x, y) => Number(x - y)).map((time, i) => ({ stream: 'stderr' as const, time, bytes: Buffer.from(`e${i}`) }));
        const merged = mergeLines(as, bs);
        expect(merged.filter((l) => l.stream === 'stdout')).toEqual(as);
        expect(merged.filter((l) => l.stream === 'stderr')).toEqual(bs);
        for (let i = 1; i < merged.length; i++) expect(merged[i]!.time >= merged[i - 1]!.time).toBe(true);
      }),
    );
  });
});
