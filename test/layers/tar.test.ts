import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesSource, comparePaths, type Entry } from '../../src/layers/entry.js';
import { DuplicatePathError, InvalidEntryError } from '../../src/layers/errors.js';
import { entriesFromDirectory } from '../../src/layers/from-directory.js';
import { writeTar } from '../../src/layers/tar/write.js';
import { patternSource, treeArbitrary } from '../../src/testing/layers.js';
import { collect, comparableOf, rawHeaders, readAll, rechunk, streamOf } from './tar-helpers.js';

const base = { mode: 0o644, uid: 0, gid: 0, mtime: 1_600_000_000, size: 0 };
const dir = (path: string): Entry => ({ ...base, path, type: 'dir', mode: 0o755 });
const file = (path: string, text = ''): Entry => {
  const bytes = new TextEncoder().encode(text);
  return { ...base, path, type: 'file', size: bytes.length, content: bytesSource(bytes) };
};

/** UTF-8 byte order with '/' below every byte: the documented canonical order, computed independently. */
function byteOrder(a: string, b: string): number {
  const enc = (s: string) => Buffer.from(s.replaceAll('/', '\0'), 'utf8');
  return Math.sign(Buffer.compare(enc(a), enc(b)));
}

describe('comparePaths', () => {
  it('is UTF-8 byte order with "/" ranked lowest', () => {
    const path = fc.array(fc.string({ unit: fc.constantFrom('a', 'b', '/', '-', '.', 'é', '\uffff', '😀', '\ue000'), maxLength: 6 }), { maxLength: 1 }).map((p) => '/' + p.join(''));
    fc.assert(
      fc.property(path, path, (a, b) => {
        expect(Math.sign(comparePaths(a, b)) || 0).toBe(byteOrder(a, b) || 0);
      }),
    );
  });

  it('puts parents before children and keeps subtrees contiguous', () => {
    expect(['/a-b', '/a/z', '/a', '/a/b/c', '/a.b'].sort(comparePaths)).toEqual(['/a', '/a/b/c', '/a/z', '/a-b', '/a.b']);
  });
});

describe('writeTar → readTar', () => {
  it('round-trips every entry type, metadata, xattrs, long and unicode names', async () => {
    await fc.assert(
      fc.asyncProperty(treeArbitrary({ maxEntries: 10, maxFileSize: 3000 }), async (entries) => {
        const tar = await collect(writeTar(entries));
        const read = await readAll(rechunk(tar, [4096]));
        const expected = await Promise.all([...entries].sort((a, b) => comparePaths(a.path, b.path)).map((e) => comparableOf(e)));
        expect(read.map(({ name: _, ...rest }) => rest)).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  });

  it('streams a large-ish file from a ContentSource and reads it back intact', async () => {
    const size = 5 * 1024 * 1024 + 123;
    const big: Entry = { ...base, path: '/big.bin', type: 'file', size, content: patternSource(7, size) };
    const read = await readAll(writeTar([big]));
    expect(read).toEqual([{ name: 'big.bin', ...(await comparableOf(big)) }]);
  });

  it('gives byte-identical tars whatever the input order', async () => {
    await fc.assert(
      fc.asyncProperty(treeArbitrary({ maxEntries: 8 }), fc.integer(), async (entries, seed) => {
        const shuffled = [...entries].sort(() => 0).reverse();
        const rotated = entries.map((_, i) => entries[(i + (seed >>> 0)) % entries.length]!);
        const a = await collect(writeTar(entries));
        expect((await collect(writeTar(shuffled))).equals(a)).toBe(true);
        expect((await collect(writeTar(rotated))).equals(a)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('any re-chunking of the input yields the same members (321-byte writes and arbitrary splits)', async () => {
    await fc.assert(
      fc.asyncProperty(treeArbitrary({ maxEntries: 6, maxFileSize: 1500 }), fc.array(fc.integer({ min: 1, max: 1400 }), { minLength: 1, maxLength: 8 }), async (entries, sizes) => {
        const tar = await collect(writeTar(entries));
        const whole = await readAll(rechunk(tar, [tar.length]));
        expect(await readAll(rechunk(tar, [321]))).toEqual(whole);
        expect(await readAll(rechunk(tar, sizes))).toEqual(whole);
        expect(await readAll(rechunk(tar, [1]))).toEqual(whole);
      }),
      { numRuns: 25 },
    );
  });
});

describe('sourceDateEpoch', () => {
  it('clamps only later mtimes and makes digests reproducible', async () => {
    await fc.assert(
      fc.asyncProperty(treeArbitrary({ maxEntries: 8, maxFileSize: 200 }), fc.integer({ min: 0, max: 2 ** 32 }), async (entries, epoch) => {
        const one = await collect(writeTar(entries, { sourceDateEpoch: epoch }));
        // Same entries with every later time moved further out: the clamp erases the difference.
        const later = entries.map((e) => (e.mtime > epoch ? { ...e, mtime: e.mtime + 12345 } : e));
        const two = await collect(writeTar(later, { sourceDateEpoch: epoch }));
        expect(createHash('sha256').update(two).digest('hex')).toBe(createHash('sha256').update(one).digest('hex'));
        const read = await readAll(rechunk(one, [one.length]));
        const byPath = new Map(entries.map((e) => [e.path, e.mtime]));
        for (const r of read) {
          const original = byPath.get(r.path)!;
          expect(r.mtime).toBe(original > epoch ? epoch : original);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('canonical form', () => {
  it('writes ustar headers: no ./ prefix, dirs with "/", empty uname/gname, 1024-byte trailer, PAX only when needed', async () => {
    const longDir = '/' + 'd'.repeat(60) + '/' + 'e'.repeat(60);
    const entries: Entry[] = [
      file('/etc/motd', 'hi'),
      dir('/etc'),
      { ...base, path: '/etc/link', type: 'symlink', linkname: 'motd' },
      { ...base, path: '/etc/hard', type: 'hardlink', linkname: '/etc/motd' },
      dir('/' + 'd'.repeat(60)),
      dir(longDir),
    ];
    const tar = await collect(writeTar(entries));
    expect(tar.length % 512).toBe(0);
    expect(tar.subarray(tar.length - 1024).every((b) => b === 0)).toBe(true);
    expect(tar.subarray(tar.length - 1536, tar.length - 1024).every((b) => b === 0)).toBe(false);
    const headers = rawHeaders(tar);
    // A 122-byte name splits into ustar prefix + name: no PAX header at all.
    // /etc/hard sorts before its target /etc/motd, so it carries the content and /etc/motd links to it.
    expect(headers.map((h) => [h.name, h.typeflag, h.size])).toEqual([
      ['d'.repeat(60) + '/', '5', 0],
      ['e'.repeat(60) + '/', '5', 0],
      ['etc/', '5', 0],
      ['etc/hard', '0', 2],
      ['etc/link', '2', 0],
      ['etc/motd', '1', 0],
    ]);
    const prefix = tar.subarray(headers[1]!.offset + 345, headers[1]!.offset + 345 + 60);
    expect(Buffer.from(prefix).toString()).toBe('d'.repeat(60));
    for (const h of headers) {
      expect(h.uname).toBe('');
      expect(h.gname).toBe('');
      expect(h.magic).toBe('ustar\x0000');
      expect(h.name.startsWith('./')).toBe(false);
      expect(h.name.startsWith('/')).toBe(false);
    }
    // The hardlink target is stored without its leading slash.
    const hard = tar.subarray(headers[5]!.offset, headers[5]!.offset + 512);
    expect(Buffer.from(hard.subarray(157, 157 + 8)).toString()).toBe('etc/hard');
  });

  it('uses PAX records for non-ASCII names, long targets, big ids, extreme times and xattrs', async () => {
    const cases: Array<[Entry, string]> = [
      [file('/ünïcödé'), 'path'],
      [{ ...base, path: '/l', type: 'symlink', linkname: 'x/'.repeat(60) }, 'linkpath'],
      [{ ...base, path: '/u', type: 'file', uid: 0o7777777 + 1 }, 'uid'],
      [{ ...base, path: '/t', type: 'file', mtime: -1 }, 'mtime'],
      [{ ...base, path: '/x', type: 'file', xattrs: { 'user.k': Uint8Array.of(0, 1, 2) } }, 'SCHILY.xattr.user.k'],
      [file('/' + 'n'.repeat(101)), 'path'],
    ];
    for (const [entry, key] of cases) {
      const tar = await collect(writeTar([entry]));
      const headers = rawHeaders(tar);
      expect(headers[0]!.typeflag).toBe('x');
      const records = Buffer.from(tar.subarray(512, 512 + headers[0]!.size)).toString('latin1');
      expect(records).toContain(` ${key}=`);
      expect(records.match(/\n/g)!.length).toBe(1);
    }
  });

  it('writes the root directory as "./"', async () => {
    const headers = rawHeaders(await collect(writeTar([dir('/a'), dir('/')])));
    expect(headers.map((h) => h.name)).toEqual(['./', 'a/']);
  });

  it('ends an empty archive with exactly the 1024-byte marker (diffID from the OCI spec)', async () => {
    const tar = await collect(writeTar([]));
    expect(createHash('sha256').update(tar).digest('hex')).toBe('5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
  });
});

describe('writer errors', () => {
  it('rejects duplicate paths with a typed error', async () => {
    const err = await collect(writeTar([file('/a'), dir('/b'), file('/a', 'x')])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatePathError);
    expect((err as DuplicatePathError).data.path).toBe('/a');
  });

  it('rejects entries the tar cannot represent, naming the path', async () => {
    const bad: Array<Partial<Entry>> = [
      { path: 'relative' },
      { path: '/a/' },
      { path: '/a/../b' },
      { path: '/a', mode: 0o10000 },
      { path: '/a', uid: -1 },
      { path: '/a', mtime: 1.5 },
      { path: '/a', size: 3 },
      { path: '/a', type: 'symlink' },
      { path: '/a', type: 'hardlink', linkname: 'rel' },
      { path: '/a', type: 'dir', size: 1 },
      { path: '/', type: 'file' },
      { path: '/a', xattrs: { 'a=b': new Uint8Array(0) } },
      { path: '/a', type: 'constructor' as Entry['type'] },
    ];
    for (const patch of bad) {
      const err = await collect(writeTar([{ ...base, path: '/a', type: 'file', ...patch } as Entry])).catch((e: unknown) => e);
      expect(err, JSON.stringify(patch)).toBeInstanceOf(InvalidEntryError);
      expect((err as InvalidEntryError).code).toBe('INVALID_ENTRY');
    }
  });

  it('detects a content source that yields more or fewer bytes than its size', async () => {
    const lying = (size: number, actual: number): Entry => ({
      ...base,
      path: '/f',
      type: 'file',
      size,
      content: { size, open: () => bytesSource(new Uint8Array(actual)).open() },
    });
    for (const [size, actual] of [[10, 9], [10, 11], [1, 0]] as const) {
      const err = await collect(writeTar([lying(size, actual)])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidEntryError);
      expect((err as InvalidEntryError).code).toBe('CONTENT_SIZE_MISMATCH');
    }
  });
});

describe('files on disk, read straight into the output blocks', () => {
  const MiB = 1024 * 1024;
  const cleanups: string[] = [];
  afterAll(() => {
    for (const d of cleanups) rmSync(d, { recursive: true, force: true });
  });

  it('give the same bytes as streaming the same contents', async () => {
    await fc.assert(
      fc.asyncProperty(
        // Sizes around the 512-byte records and the 1 MiB output blocks.
        fc.array(fc.oneof(fc.nat(3000), fc.integer({ min: MiB - 1100, max: MiB + 600 }), fc.constantFrom(0, 511, 512, 513, MiB - 512, MiB, 2 * MiB)), { minLength: 1, maxLength: 5 }),
        fc.integer(),
        async (sizes, seed) => {
          const root = mkdtempSync(join(tmpdir(), 'layerkit-tar-disk-'));
          cleanups.push(root);
          sizes.forEach((size, i) => writeFileSync(join(root, `f${i}`), Buffer.from(patternBytes(seed + i, size))));
          const onDisk = await entriesFromDirectory(root, { xattrs: false });
          // The same contents without the synchronous fast path: an ordinary stream of the file.
          const streamed = onDisk.map((e) => (e.content ? { ...e, content: { size: e.content.size, open: () => e.content!.open() } } : e));
          const direct = await collect(writeTar(onDisk));
          expect(direct.equals(await collect(writeTar(streamed)))).toBe(true);
          const read = await readAll(streamOf(direct));
          expect(read.map((m) => m.size)).toEqual(sizes);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('catch a file that grew or shrank, wherever its end falls in a block', async () => {
    const root = mkdtempSync(join(tmpdir(), 'layerkit-tar-disk-'));
    cleanups.push(root);
    // The header takes 512 bytes, so a file of 1 MiB − 512 bytes ends exactly at the first block boundary.
    for (const size of [10, MiB - 512, MiB - 511, MiB, 3 * MiB - 512]) {
      for (const delta of [1, -1]) {
        writeFileSync(join(root, 'f'), new Uint8Array(size));
        const [entry] = await entriesFromDirectory(root, { xattrs: false });
        writeFileSync(join(root, 'f'), new Uint8Array(size + delta));
        const err = await collect(writeTar([entry!])).catch((e: unknown) => e);
        expect(err, `${size}${delta > 0 ? '+' : ''}${delta}`).toBeInstanceOf(InvalidEntryError);
        expect((err as InvalidEntryError).code).toBe('CONTENT_SIZE_MISMATCH');
        expect((err as InvalidEntryError).data.path).toBe('/f');
      }
    }
  });
});

function patternBytes(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let s = seed | 1;
  for (let i = 0; i < size; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = i % 3 ? 0x61 + (s & 7) : s & 0xff;
  }
  return out;
}
