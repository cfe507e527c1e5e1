import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { LayerkitError } from '../../src/errors.js';
import { CompressionError, TarBodyExpiredError, TarFormatError, TarUnsupportedError, UnsafePathError } from '../../src/layers/errors.js';
import { BLOCK, encodeHeader, encodePaxRecords } from '../../src/layers/tar/header.js';
import { readTar } from '../../src/layers/tar/read.js';
import { writeTar } from '../../src/layers/tar/write.js';
import { encodeRawTar, rawTarArbitrary, treeArbitrary } from '../../src/testing/layers.js';
import { tool } from './interop-helpers.js';
import { collect, readAll, streamOf } from './tar-helpers.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

/** One header block with `patch` applied to raw offsets, checksum recomputed like a real writer would. */
function header(name: string, typeflag: string, size = 0, patch: Record<number, number[]> = {}): Uint8Array {
  const block = encodeHeader({ name: utf8(name), mode: 0o644, uid: 0, gid: 0, size, mtime: 0, typeflag: typeflag.charCodeAt(0) });
  for (const [offset, bytes] of Object.entries(patch)) block.set(bytes, Number(offset));
  block.fill(0x20, 148, 156);
  const sum = block.reduce((a, b) => a + b, 0);
  block.set(utf8(sum.toString(8).padStart(6, '0') + '\0 '), 148);
  return block;
}

function payload(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / BLOCK) * BLOCK);
  out.set(data);
  return out;
}

const END = new Uint8Array(1024);

async function readError(bytes: Uint8Array): Promise<unknown> {
  try {
    await readAll(streamOf(bytes));
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('readTar dialects', () => {
  it('reads GNU long names and long link targets (L/K)', async () => {
    const long = 'dir/' + 'n'.repeat(200);
    const target = 't/'.repeat(80);
    const bytes = Buffer.concat([
      header('././@LongLink', 'L', long.length + 1),
      payload(utf8(long + '\0')),
      header('././@LongLink', 'K', target.length),
      payload(utf8(target)),
      header(long.slice(0, 100), '2'),
      END,
    ]);
    const [m] = await readAll(streamOf(bytes));
    expect(m).toMatchObject({ name: long, path: '/' + long, type: 'symlink', linkname: target });
  });

  it('reads base-256 numbers (uid, size, negative mtime)', async () => {
    const bytes = Buffer.concat([
      header('big', '0', 0, {
        108: [0x80, 0, 0, 0, 0x12, 0x34, 0x56, 0x78], // uid
        124: [0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3], // size 3
        136: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe], // mtime -2
      }),
      payload(utf8('abc')),
      END,
    ]);
    const [m] = await readAll(streamOf(bytes));
    expect(m).toMatchObject({ path: '/big', uid: 0x12345678, size: 3, mtime: -2 });
  });

  it('applies PAX records and ignores PAX global headers', async () => {
    const global = encodePaxRecords([['comment', utf8('git commit')], ['path', utf8('not/this')]]);
    const local = encodePaxRecords([
      ['path', utf8('ñame/with spaces')],
      ['mtime', utf8('1700000000.987654321')],
      ['uid', utf8('4294967295')],
      ['SCHILY.xattr.user.k', Uint8Array.of(0, 255)],
      ['SCHILY.xattr.__proto__', Uint8Array.of(1)],
      ['LIBARCHIVE.xattr.user.b%3D', utf8(Buffer.from('hi').toString('base64'))],
      ['atime', utf8('1')],
    ]);
    const bytes = Buffer.concat([
      header('pax_global_header', 'g', global.length),
      payload(global),
      header('PaxHeader', 'x', local.length),
      payload(local),
      header('short', '0'),
      header('plain', '0'),
      END,
    ]);
    const members = await readAll(streamOf(bytes));
    expect(members[0]).toMatchObject({ path: '/ñame/with spaces', mtime: 1_700_000_000, uid: 4294967295, xattrs: { 'user.k': '00ff', 'user.b=': Buffer.from('hi').toString('hex') } });
    expect(Object.keys(members[0]!.xattrs!)).toContain('__proto__');
    expect(members[1]).toMatchObject({ path: '/plain', mtime: 0, uid: 0 });
    expect(members[1]!.xattrs).toBeUndefined();
  });

  it('normalizes names into the root: ./, leading slashes, dot segments, inner ..', async () => {
    const bytes = encodeRawTar([
      { name: './', type: 'dir' },
      { name: './a/./b/', type: 'dir' },
      { name: '////abs', type: 'file' },
      { name: 'x/../y', type: 'file' },
      { name: 'h', type: 'hardlink', linkname: './/a/../abs' },
      { name: 's', type: 'symlink', linkname: '../../outside' },
    ]);
    const members = await readAll(streamOf(bytes));
    expect(members.map((m) => [m.name, m.path, m.linkname])).toEqual([
      ['./', '/', undefined],
      ['./a/./b/', '/a/b', undefined],
      ['////abs', '/abs', undefined],
      ['x/../y', '/y', undefined],
      ['h', '/h', '/abs'],
      ['s', '/s', '../../outside'], // symlink targets are kept as written
    ]);
  });

  it('reads v7 headers, old-style directories, latin-1 names, and contiguous files', async () => {
    const v7 = header('olddir/', '\0', 0, { 257: [0, 0, 0, 0, 0, 0, 0, 0] });
    const latin = header('', '7', 0, { 0: [0x63, 0x61, 0x66, 0xe9] }); // "café" in latin-1
    const members = await readAll(streamOf(Buffer.concat([v7, latin, END])));
    expect(members.map((m) => [m.path, m.type])).toEqual([
      ['/olddir', 'dir'],
      ['/café', 'file'],
    ]);
  });

  it('auto-detects gzip and reads across arbitrary chunking', async () => {
    await fc.assert(
      fc.asyncProperty(treeArbitrary({ maxEntries: 5, maxFileSize: 2000 }), fc.integer({ min: 1, max: 700 }), async (entries, n) => {
        const tar = await collect(writeTar(entries));
        const gz = gzipSync(tar);
        const pieces: Uint8Array[] = [];
        for (let i = 0; i < gz.length; i += n) pieces.push(gz.subarray(i, i + n));
        expect(await readAll(streamOf(...pieces))).toEqual(await readAll(streamOf(tar)));
      }),
      { numRuns: 20 },
    );
  });

  it('skips unread bodies and refuses to read them late', async () => {
    const tar = await collect(writeTar([
      { path: '/a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3, content: { size: 3, async *open() { yield utf8('abc'); } } },
      { path: '/b', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 },
    ]));
    const members = [];
    for await (const m of readTar(streamOf(tar))) members.push(m);
    expect(members.map((m) => m.entry.path)).toEqual(['/a', '/b']);
    await expect(collect(members[0]!.body)).rejects.toBeInstanceOf(TarBodyExpiredError);
  });

  it('stops the source when the consumer stops early', async () => {
    const tar = await collect(writeTar([{ path: '/a', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }]));
    let returned = false;
    const source = {
      [Symbol.asyncIterator]() {
        let sent = false;
        return {
          next: async () => (sent ? { done: true as const, value: undefined } : ((sent = true), { done: false as const, value: tar })),
          return: async () => ((returned = true), { done: true as const, value: undefined }),
        };
      },
    };
    for await (const _ of readTar(source)) break;
    expect(returned).toBe(true);
  });
});

describe('readTar on bad input', () => {
  it('reports truncation anywhere before the end marker, with offset', async () => {
    const tar = await collect(writeTar([
      { path: '/d', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
      { path: '/d/f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 700, content: { size: 700, async *open() { yield new Uint8Array(700).fill(7); } } },
    ]));
    const markerStart = tar.length - 1024;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: tar.length - 1 }), async (cut) => {
        const err = await readError(tar.subarray(0, cut));
        if (cut >= markerStart + 512) {
          expect(err).toBeUndefined(); // a lone zero block at the end is tolerated
        } else {
          expect(err).toBeInstanceOf(TarFormatError);
          expect((err as TarFormatError).code).toBe('TAR_TRUNCATED');
          expect(typeof (err as TarFormatError).data.offset).toBe('number');
        }
      }),
      { numRuns: 150 },
    );
  });

  it('reports a bad header checksum with the member name and offset', async () => {
    const tar = await collect(writeTar([
      { path: '/first', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
      { path: '/second', type: 'fifo', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 },
    ]));
    tar[512 + 110] = tar[512 + 110]! ^ 1; // a mode digit of the second header
    const err = await readError(tar);
    expect(err).toBeInstanceOf(TarFormatError);
    expect((err as TarFormatError).data).toMatchObject({ offset: 512, name: 'second' });
  });

  it('rejects sparse members (GNU S and GNU.sparse PAX) as unsupported', async () => {
    const gnu = await readError(Buffer.concat([header('holes', 'S'), END]));
    expect(gnu).toBeInstanceOf(TarUnsupportedError);
    expect((gnu as TarUnsupportedError).data).toMatchObject({ name: 'holes', offset: 0 });
    const records = encodePaxRecords([['GNU.sparse.major', utf8('1')], ['GNU.sparse.name', utf8('holes')]]);
    const pax = await readError(Buffer.concat([header('PaxHeader', 'x', records.length), payload(records), header('holes', '0'), END]));
    expect(pax).toBeInstanceOf(TarUnsupportedError);
  });

  it('rejects names and hardlink targets that climb out of the root', async () => {
    for (const member of [
      { name: '../escape', type: 'file' as const },
      { name: 'a/../../escape', type: 'file' as const },
      { name: 'h', type: 'hardlink' as const, linkname: '../../etc/shadow' },
    ]) {
      const err = await readError(encodeRawTar([member]));
      expect(err, member.name).toBeInstanceOf(UnsafePathError);
    }
  });

  it('reads zstd on every runtime, and damaged zstd is a typed error', async () => {
    const tar = await collect(writeTar([]));
    if (tool('zstd')) {
      const zstd = spawnSync('zstd', ['-q', '-c'], { input: tar });
      expect(zstd.status).toBe(0);
      expect(await readError(zstd.stdout)).toBeUndefined();
    }
    const err = await readError(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0));
    expect(err).toBeInstanceOf(CompressionError);
    expect((err as CompressionError).code).toBe('COMPRESSION_FORMAT');
  });

  it('reports corrupt and truncated gzip as CompressionError', async () => {
    const gz = gzipSync(await collect(writeTar([{ path: '/a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 }])));
    const corrupt = Buffer.from(gz);
    corrupt[gz.length - 6] = corrupt[gz.length - 6]! ^ 0xff; // CRC
    expect(await readError(corrupt)).toBeInstanceOf(CompressionError);
    expect(await readError(gz.subarray(0, gz.length - 3))).toBeInstanceOf(CompressionError);
  });

  it('never crashes on garbage: every failure is a LayerkitError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (bytes) => {
        const err = await readError(bytes);
        if (err !== undefined) expect(err).toBeInstanceOf(LayerkitError);
      }),
      { numRuns: 200 },
    );
  });

  it('never crashes on mutated archives: every failure is a LayerkitError', async () => {
    await fc.assert(
      fc.asyncProperty(rawTarArbitrary({ hostile: true }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), async ({ bytes }, flips) => {
        const mutated = Buffer.from(bytes);
        for (const [at, value] of flips) mutated[at % mutated.length] = value;
        const err = await readError(mutated);
        if (err !== undefined) expect(err).toBeInstanceOf(LayerkitError);
      }),
      { numRuns: 200 },
    );
  });
});
