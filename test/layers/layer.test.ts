import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DigestMismatchError } from '../../src/errors.js';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { LayerFormatError } from '../../src/layers/changes/errors.js';
import { CompressionError, DuplicatePathError } from '../../src/layers/errors.js';
import { entriesFromDirectory, fileSource, layerFromDirectory } from '../../src/layers/from-directory.js';
import { emptyLayer, layerFromEntries } from '../../src/layers/from-entries.js';
import { layerFromTar, layerFromTarFile } from '../../src/layers/from-tar.js';
import { MediaType, type Layer } from '../../src/layers/layer.js';
import { writeTar } from '../../src/layers/tar/write.js';
import { layerArbitrary, treeArbitrary, validateLayer } from '../../src/testing/layers.js';
import { collect, readAll, streamOf } from './tar-helpers.js';

const sha = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const file = (path: string, text: string, mtime = 100): Entry => {
  const bytes = new TextEncoder().encode(text);
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime, size: bytes.length, content: bytesSource(bytes) };
};

/** An opener that counts its calls. */
function counted(bytes: Uint8Array): { open: () => AsyncIterable<Uint8Array>; calls: () => number } {
  let calls = 0;
  return {
    open: () => {
      calls++;
      return streamOf(bytes.subarray(0, 700), bytes.subarray(700));
    },
    calls: () => calls,
  };
}

describe('layerFromEntries', () => {
  it('passes validateLayer for generated trees, with every compression setting', async () => {
    const settings = [{ level: 1 }, { level: 9, parallel: false }, { compression: 'none' as const }, { backend: 'fflate' as const }];
    await fc.assert(
      fc.asyncProperty(layerArbitrary({ maxEntries: 8 }), async (layer) => {
        expect((await validateLayer(layer)).problems).toEqual([]);
      }),
      { numRuns: 15 },
    );
    await fc.assert(
      fc.asyncProperty(treeArbitrary({ maxEntries: 8 }), fc.constantFrom(...settings), async (entries, setting) => {
        const layer = layerFromEntries(entries, setting);
        const report = await validateLayer(layer);
        expect(report.problems).toEqual([]);
        expect(layer.mediaType).toBe(setting.compression === 'none' ? MediaType.layerTar : MediaType.layerGzip);
        expect(report.computed.diffId).toBe(sha(await collect(writeTar(entries))));
      }),
      { numRuns: 30 },
    );
  });

  it('has digests independent of entry order', async () => {
    await fc.assert(
      fc.asyncProperty(treeArbitrary({ maxEntries: 8 }), async (entries) => {
        const a = layerFromEntries(entries, { level: 1 });
        const b = layerFromEntries([...entries].reverse(), { level: 1 });
        expect(await b.diffId()).toBe(await a.diffId());
        expect(await b.digest()).toBe(await a.digest());
        expect(await b.size()).toBe(await a.size());
      }),
      { numRuns: 20 },
    );
  });

  it('gives identical digests across runs with sourceDateEpoch, whatever the clock said', async () => {
    const epoch = 1_700_000_000;
    const build = (now: number) =>
      layerFromEntries([file('/a', 'x', now), { path: '/d', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: now + 5, size: 0 }, file('/old', 'y', 10)], {
        sourceDateEpoch: epoch,
      });
    const first = build(1_800_000_000);
    const second = build(1_900_000_123);
    expect(await second.digest()).toBe(await first.digest());
    expect(await second.diffId()).toBe(await first.diffId());
    const members = await readAll(first.uncompressed());
    expect(members.map((m) => [m.path, m.mtime])).toEqual([
      ['/a', epoch],
      ['/d', epoch],
      ['/old', 10],
    ]);
  });

  it('the empty layer is the canonical 1024-byte tar', async () => {
    expect(await emptyLayer.diffId()).toBe('sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef');
    expect(await emptyLayer.uncompressedSize!()).toBe(1024);
    expect((await validateLayer(emptyLayer)).ok).toBe(true);
  });

  it('rejects duplicate paths when a getter runs, and memoizes the error', async () => {
    const layer = layerFromEntries([file('/a', '1'), file('/a', '2')]);
    const first = await layer.digest().catch((e: unknown) => e);
    expect(first).toBeInstanceOf(DuplicatePathError);
    expect(await layer.digest().catch((e: unknown) => e)).toBe(first);
  });

  it('detects content that changed between streams instead of handing out a new blob', async () => {
    let text = 'before';
    const entry: Entry = {
      path: '/f',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 0,
      size: 6,
      content: { size: 6, open: () => bytesSource(new TextEncoder().encode(text)).open() },
    };
    const layer = layerFromEntries([entry]);
    await layer.digest();
    text = 'after!';
    await expect(collect(layer.compressed())).rejects.toBeInstanceOf(DigestMismatchError);
    await expect(collect(layer.uncompressed())).rejects.toBeInstanceOf(DigestMismatchError);
  });
});

describe('layerFromTar', () => {
  it('computes each digest once, while streaming, and shares passes', async () => {
    const tar = await collect(writeTar([file('/a', 'hello'), file('/b', 'world')]));
    const gz = gzipSync(tar);
    const source = counted(gz);
    const layer = layerFromTar(source.open);
    expect(await layer.digest()).toBe(sha(gz));
    expect(await layer.digest()).toBe(sha(gz));
    const afterDigest = source.calls();
    expect(await layer.size()).toBe(gz.length);
    expect(source.calls()).toBe(afterDigest);
    expect(await layer.diffId()).toBe(sha(tar));
    expect(await layer.uncompressedSize!()).toBe(tar.length);
    const afterDiff = source.calls();
    expect(await layer.diffId()).toBe(sha(tar));
    expect(source.calls()).toBe(afterDiff);
    expect(layer.mediaType).toBe(MediaType.layerGzip);
    expect((await validateLayer(layer)).problems).toEqual([]);
  });

  it('records the digest from a compressed() stream read to its end', async () => {
    const gz = gzipSync(await collect(writeTar([file('/a', 'x')])));
    const source = counted(gz);
    const layer = layerFromTar(source.open);
    await collect(layer.compressed());
    const calls = source.calls();
    expect(await layer.digest()).toBe(sha(gz));
    expect(source.calls()).toBe(calls);
  });

  it('checks uncompressed() against a diffID already computed, and leaves it uncomputed otherwise', async () => {
    const tarA = await collect(writeTar([file('/a', 'first')]));
    const tarB = await collect(writeTar([file('/a', 'other')]));
    let current = gzipSync(tarA);
    let calls = 0;
    const layer = layerFromTar(() => {
      calls++;
      return streamOf(current);
    });
    // Read without asking for a digest: the bytes come through, and diffId() later reads for itself.
    expect(Buffer.compare(await collect(layer.uncompressed()), tarA)).toBe(0);
    const afterRead = calls;
    expect(await layer.diffId()).toBe(sha(tarA));
    expect(calls).toBeGreaterThan(afterRead);
    // Once handed out, a read that no longer matches it fails.
    current = gzipSync(tarB);
    await expect(collect(layer.uncompressed())).rejects.toBeInstanceOf(DigestMismatchError);
    // The same for a layer over a plain tar.
    let plain = tarA;
    const raw = layerFromTar(() => streamOf(plain), { compression: 'none' });
    expect(Buffer.compare(await collect(raw.uncompressed()), tarA)).toBe(0);
    expect(await raw.diffId()).toBe(sha(tarA));
    plain = tarB;
    await expect(collect(raw.uncompressed())).rejects.toBeInstanceOf(DigestMismatchError);
  });

  it('memoizes a failing opener as one rejection', async () => {
    let calls = 0;
    const layer = layerFromTar(() => {
      calls++;
      throw Object.assign(new Error('gone'), { code: 'ENOENT' });
    });
    const a = await layer.digest().catch((e: unknown) => e);
    const b = await layer.diffId().catch((e: unknown) => e);
    expect((a as { code: string }).code).toBe('ENOENT');
    expect(b).toBe(a);
    expect(calls).toBe(1);
  });

  it('gzips an uncompressed tar (or keeps it with compression: none)', async () => {
    const tar = await collect(writeTar([file('/a', 'plain')]));
    const gzipped = layerFromTar(() => streamOf(tar), { level: 1 });
    expect(await gzipped.diffId()).toBe(sha(tar));
    expect(gunzipSync(await collect(gzipped.compressed())).equals(tar)).toBe(true);
    expect((await validateLayer(gzipped)).problems).toEqual([]);
    const raw = layerFromTar(() => streamOf(tar), { compression: 'none' });
    expect(await raw.digest()).toBe(sha(tar));
    expect(raw.mediaType).toBe(MediaType.layerTar);
    expect((await validateLayer(raw)).problems).toEqual([]);
  });

  it('reads a tar file from disk; a damaged zstd blob has a digest but no diffID', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'layerkit-layer-'));
    try {
      const tar = await collect(writeTar([file('/a', 'on disk')]));
      writeFileSync(join(dir, 'l.tar.gz'), gzipSync(tar));
      const layer = layerFromTarFile(join(dir, 'l.tar.gz'));
      expect(await layer.diffId()).toBe(sha(tar));
      const zstd = Buffer.concat([Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd), Buffer.alloc(20)]);
      writeFileSync(join(dir, 'l.tar.zst'), zstd);
      const z = layerFromTarFile(join(dir, 'l.tar.zst'));
      expect(await z.digest()).toBe(sha(zstd));
      expect(z.mediaType).toBe(MediaType.layerZstd);
      const err = await z.diffId().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CompressionError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('validateLayer', () => {
  it('reports every injected mismatch, not just the first', async () => {
    const good = layerFromEntries([file('/a', 'content'), file('/b', 'more content')], { level: 1 });
    const blob = await collect(good.compressed());
    const corrupt = Buffer.from(blob);
    corrupt[Math.floor(blob.length / 2)] = corrupt[Math.floor(blob.length / 2)]! ^ 0x55;
    const wrong = 'sha256:' + '0'.repeat(64);
    const bad: Layer = {
      mediaType: good.mediaType,
      diffId: async () => wrong as Awaited<ReturnType<Layer['diffId']>>,
      digest: () => good.digest(),
      size: async () => (await good.size()) + 1,
      uncompressed: () => good.uncompressed(),
      compressed: () => streamOf(corrupt),
    };
    const report = await validateLayer(bad);
    const codes = report.problems.map((p) => p.code).sort();
    expect(report.ok).toBe(false);
    expect(codes).toEqual(expect.arrayContaining(['DIFFID_MISMATCH', 'DIGEST_MISMATCH', 'SIZE_MISMATCH', 'BLOB_CONTENT_MISMATCH']));
    expect(report.problems.find((p) => p.code === 'DIFFID_MISMATCH')!.expected).toBe(wrong);
  });

  it('finds each kind of injected mismatch on generated layers', async () => {
    await fc.assert(
      fc.asyncProperty(treeArbitrary({ maxEntries: 5 }), fc.constantFrom('diffId', 'size', 'blob', 'mediaType'), async (entries, kind) => {
        const good = layerFromEntries(entries, { level: 1 });
        const bad: Layer = {
          mediaType: kind === 'mediaType' ? MediaType.layerTar : good.mediaType,
          diffId: async () => (kind === 'diffId' ? ((await good.digest()) as Awaited<ReturnType<Layer['diffId']>>) : good.diffId()),
          digest: () => good.digest(),
          size: async () => (await good.size()) - (kind === 'size' ? 1 : 0),
          uncompressed: () => good.uncompressed(),
          compressed: () =>
            kind === 'blob'
              ? (async function* () {
                  const bytes = Buffer.from(await collect(good.compressed()));
                  bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 1; // inside the CRC or ISIZE
                  yield bytes;
                })()
              : good.compressed(),
        };
        const codes = (await validateLayer(bad)).problems.map((p) => p.code);
        const expected = { diffId: 'DIFFID_MISMATCH', size: 'SIZE_MISMATCH', blob: 'DIGEST_MISMATCH', mediaType: 'MEDIA_TYPE_MISMATCH' }[kind];
        expect(codes).toContain(expected);
        if (kind === 'blob') expect(codes).toContain('BLOB_CONTENT_MISMATCH');
      }),
      { numRuns: 20 },
    );
  });

  it('reports duplicate paths and unparseable tars', async () => {
    const dup = Buffer.concat([
      (await collect(writeTar([file('/a', '1')]))).subarray(0, 1024),
      await collect(writeTar([file('/a', '2')])),
    ]);
    const report = await validateLayer(layerFromTar(() => streamOf(dup), { compression: 'none' }));
    expect(report.problems.map((p) => p.code)).toEqual(['DUPLICATE_PATH']);
    const garbage = await validateLayer(layerFromTar(() => streamOf(Buffer.alloc(700, 1)), { compression: 'none' }));
    expect(garbage.problems.map((p) => p.code)).toContain('TAR_INVALID');
  });
});

describe('hostile trees', () => {
  it('write a valid layer or fail with a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(treeArbitrary({ maxEntries: 6, hostile: true }), async (entries) => {
        const attempt = async (options: { externalHardlinks?: 'keep' }): Promise<unknown> => {
          const layer = layerFromEntries(entries, { level: 1, ...options });
          try {
            await layer.digest();
          } catch (err) {
            return err;
          }
          expect((await validateLayer(layer)).problems).toEqual([]);
          return undefined;
        };
        const err = await attempt({});
        if (err === undefined || err instanceof DuplicatePathError) return;
        // The hardlink to a file outside the layer is refused by default, written when asked for.
        expect(err).toBeInstanceOf(LayerFormatError);
        expect((err as LayerFormatError).code).toBe('HARDLINK_TARGET_MISSING');
        const kept = await attempt({ externalHardlinks: 'keep' });
        if (kept !== undefined) expect(kept).toBeInstanceOf(DuplicatePathError);
      }),
      { numRuns: 30 },
    );
  });
});

describe('layerFromDirectory', () => {
  const root = process.getuid?.() === 0;
  const hasTool = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

  it('walks files, dirs, symlinks, hardlinks, fifos, devices and xattrs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'layerkit-dir-'));
    try {
      mkdirSync(join(dir, 'etc/sub'), { recursive: true });
      writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0\n');
      writeFileSync(join(dir, 'etc/sub/z'), 'z');
      chmodSync(join(dir, 'etc/passwd'), 0o4755);
      symlinkSync('../etc/passwd', join(dir, 'link'));
      linkSync(join(dir, 'etc/sub/z'), join(dir, 'a-hard'));
      linkSync(join(dir, 'etc/sub/z'), join(dir, 'etc/hard'));
      execFileSync('mkfifo', [join(dir, 'pipe')]);
      if (root) execFileSync('mknod', [join(dir, 'null'), 'c', '1', '3']);
      const xattrs = hasTool('setfattr') && spawnSync('setfattr', ['-n', 'user.test', '-v', '0x00ff', join(dir, 'etc/sub/z')]).status === 0;
      utimesSync(join(dir, 'etc/passwd'), 1_000_000, 1_234_567);

      const entries = await entriesFromDirectory(dir, { owner: { uid: 0, gid: 0 } });
      const byPath = new Map(entries.map((e) => [e.path, e]));
      expect(entries.map((e) => e.path)).toEqual(
        ['/a-hard', '/etc', '/etc/hard', '/etc/passwd', '/etc/sub', '/etc/sub/z', '/link', ...(root ? ['/null'] : []), '/pipe'],
      );
      // The first path of the inode in canonical order carries the content; the others link to it.
      expect(byPath.get('/a-hard')).toMatchObject({ type: 'file', size: 1 });
      expect(byPath.get('/etc/hard')).toMatchObject({ type: 'hardlink', linkname: '/a-hard' });
      expect(byPath.get('/etc/sub/z')).toMatchObject({ type: 'hardlink', linkname: '/a-hard' });
      expect(byPath.get('/etc/passwd')).toMatchObject({ type: 'file', mode: 0o4755, mtime: 1_234_567, uid: 0 });
      expect(byPath.get('/link')).toMatchObject({ type: 'symlink', linkname: '../etc/passwd' });
      expect(byPath.get('/pipe')).toMatchObject({ type: 'fifo' });
      if (root) expect(byPath.get('/null')).toMatchObject({ type: 'char', devmajor: 1, devminor: 3 });
      if (xattrs) expect(Buffer.from(byPath.get('/a-hard')!.xattrs!['user.test']!).toString('hex')).toBe('00ff');

      const layer = layerFromDirectory(dir, { owner: { uid: 0, gid: 0 }, level: 1 });
      expect((await validateLayer(layer)).problems).toEqual([]);
      const members = await readAll(layer.uncompressed());
      expect(members.find((m) => m.path === '/etc/passwd')!.content).toBe(createHash('sha256').update('root:x:0:0\n').digest('hex'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('catches a file that grew or shrank after the walk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'layerkit-dir-'));
    try {
      for (const [before, after] of [['short', 'much longer now'], ['long enough', 'tiny']]) {
        writeFileSync(join(dir, 'f'), before!);
        const layer = layerFromDirectory(dir);
        await layer.diffId();
        writeFileSync(join(dir, 'f'), after!);
        const err = await collect(layer.uncompressed()).catch((e: unknown) => e);
        expect((err as { code?: string }).code).toBe('CONTENT_SIZE_MISMATCH');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fileSource reads files of any size exactly, across chunk boundaries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'layerkit-dir-'));
    try {
      for (const size of [0, 1, 4095, 4096, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 2 * 1024 * 1024 + 5]) {
        const bytes = randomBytes(size);
        writeFileSync(join(dir, 'f'), bytes);
        const read = await collect(fileSource(join(dir, 'f'), size).open());
        expect(read.equals(bytes), String(size)).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('memory', () => {
  it('computes the digest of a large single-file layer with peak RSS under 256 MB', () => {
    // LAYERKIT_SLOW=1 runs the full 1 GiB; the default size still exceeds what buffering could hide.
    const size = process.env.LAYERKIT_SLOW ? 1024 ** 3 : 384 * 1024 ** 2;
    const probe = join(import.meta.dirname, '../../bench/layers-rss-probe.ts');
    const child = spawnSync(process.execPath, ['--import', 'tsx', probe, String(size)], { encoding: 'utf8', timeout: 240_000 });
    expect(child.status, child.stderr).toBe(0);
    const { rss } = JSON.parse(child.stdout) as { rss: number };
    expect(rss).toBeLessThan(256 * 1024 * 1024);
  }, 250_000);
});
