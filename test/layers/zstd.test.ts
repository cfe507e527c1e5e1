/**
 * zstd layers: the frame-cut encoder and the decoder against each other, against
 * the zstd(1) command, and through every layer constructor and the tar reader.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { compress, decompress, decompressAs, detectCompression, mediaTypeCompression, unzstdStream, zstdStream } from '../../src/layers/compress/index.js';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { CompressionError } from '../../src/layers/errors.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { layerFromTar } from '../../src/layers/from-tar.js';
import { layerFromUncompressed } from '../../src/layers/from-uncompressed.js';
import { MediaType } from '../../src/layers/layer.js';
import { readTar } from '../../src/layers/tar/read.js';
import { validateLayer } from '../../src/testing/layers.js';
import { tool } from './interop-helpers.js';
import { collect, rechunk, streamOf } from './tar-helpers.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'layerkit-zstd-'));
  dirs.push(dir);
  return dir;
}

/** Compressible bytes with some structure (not a single repeated byte). */
function textBytes(n: number, seed: number): Uint8Array {
  const words = ['layer', 'zstd', 'frame', 'digest', '\n', 'image', 'whiteout', 'tar'];
  let s = seed >>> 0 || 1;
  const parts: string[] = [];
  let length = 0;
  while (length < n) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const w = words[(s >>> 0) % words.length]! + ' ';
    parts.push(w);
    length += w.length;
  }
  return new TextEncoder().encode(parts.join('').slice(0, n));
}

function file(path: string, bytes: Uint8Array): Entry {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: bytes.byteLength, content: bytesSource(bytes) };
}

const FRAME = 64 * 1024;
const hasZstd = tool('zstd');

describe('zstd streams', () => {
  it('property: decompress(compress(x)) = x, whatever the chunking, and the bytes do not depend on the chunking', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300_000 }),
        fc.integer(),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 6 }),
        async (n, seed, random, cuts) => {
          const input = random ? new Uint8Array(randomBytes(n)) : textBytes(n, seed);
          const whole = await collect(zstdStream(streamOf(input), { frameSize: FRAME }));
          const cut = await collect(zstdStream(rechunk(input, cuts), { frameSize: FRAME }));
          expect(Buffer.compare(whole, cut)).toBe(0);
          expect(detectCompression(whole)).toBe('zstd');
          expect(Buffer.compare(await collect(unzstdStream(rechunk(whole, cuts))), Buffer.from(input))).toBe(0);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('cuts the input into frames of frameSize: one frame per 64 KiB, each a zstd frame on its own', async () => {
    const input = textBytes(3 * FRAME + 100, 7);
    const out = await collect(zstdStream(streamOf(input), { frameSize: FRAME }));
    // Every frame starts with the magic 28 b5 2f fd.
    let frames = 0;
    for (let i = out.indexOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd])); i !== -1; i = out.indexOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), i + 1)) frames++;
    expect(frames).toBe(4);
  });

  it.runIf(hasZstd)('writes what zstd -d reads, and reads what zstd writes (single and multi-frame)', () => {
    const dir = tempDir();
    const input = textBytes(5 * FRAME + 33, 11);
    return (async () => {
      const ours = await collect(zstdStream(streamOf(input), { frameSize: FRAME }));
      writeFileSync(join(dir, 'ours.zst'), ours);
      const r = spawnSync('zstd', ['-d', '-c', join(dir, 'ours.zst')], { maxBuffer: 1 << 26 });
      expect(r.status, String(r.stderr)).toBe(0);
      expect(Buffer.compare(r.stdout, Buffer.from(input))).toBe(0);

      writeFileSync(join(dir, 'plain'), input);
      expect(spawnSync('zstd', ['-q', '-19', '-f', join(dir, 'plain'), '-o', join(dir, 'theirs.zst')]).status).toBe(0);
      const theirs = readFileSync(join(dir, 'theirs.zst'));
      // Two of their frames back to back: one stream.
      const twice = Buffer.concat([theirs, theirs]);
      expect(Buffer.compare(await collect(unzstdStream(rechunk(twice, [1000, 3]))), Buffer.concat([input, input]))).toBe(0);
    })();
  });

  it('says a cut-short or damaged stream is one, as a typed error', async () => {
    const whole = await collect(zstdStream(streamOf(textBytes(200_000, 3)), { frameSize: FRAME }));
    const truncated = collect(unzstdStream(streamOf(whole.subarray(0, whole.length - 50))));
    await expect(truncated).rejects.toBeInstanceOf(CompressionError);
    await expect(truncated).rejects.toMatchObject({ code: 'COMPRESSION_FORMAT', data: { format: 'zstd', reason: 'truncated zstd stream' } });
    const garbage = Buffer.concat([whole.subarray(0, 4), Buffer.alloc(64, 0xff)]);
    await expect(collect(unzstdStream(streamOf(garbage)))).rejects.toMatchObject({ code: 'COMPRESSION_FORMAT', data: { format: 'zstd' } });
    await expect(collect(unzstdStream(streamOf()))).rejects.toMatchObject({ data: { reason: 'truncated zstd stream (empty input)' } });
  });

  it('refuses a level outside 1–19 before reading anything', async () => {
    await expect(collect(zstdStream(streamOf(new Uint8Array(10)), { level: 0 }))).rejects.toBeInstanceOf(RangeError);
    await expect(collect(zstdStream(streamOf(new Uint8Array(10)), { level: 20 }))).rejects.toBeInstanceOf(RangeError);
  });

  it('compress()/decompress() pick the format: gzip, zstd, none', async () => {
    const input = textBytes(50_000, 5);
    for (const format of ['gzip', 'zstd', 'none'] as const) {
      const blob = await collect(compress(streamOf(input), format));
      const sniffed = await decompress(streamOf(blob));
      expect(sniffed.format).toBe(format);
      expect(Buffer.compare(await collect(sniffed.stream), Buffer.from(input))).toBe(0);
      expect(Buffer.compare(await collect(decompressAs(streamOf(blob), format)), Buffer.from(input))).toBe(0);
    }
  });
});

describe('the layer media-type table', () => {
  it('names the compression of every OCI and Docker layer type, and nothing else', () => {
    expect(mediaTypeCompression('application/vnd.oci.image.layer.v1.tar+zstd')).toBe('zstd');
    expect(mediaTypeCompression('application/vnd.oci.image.layer.nondistributable.v1.tar+zstd')).toBe('zstd');
    expect(mediaTypeCompression('application/vnd.oci.image.layer.v1.tar+gzip')).toBe('gzip');
    expect(mediaTypeCompression('application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe('gzip');
    expect(mediaTypeCompression('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip')).toBe('gzip');
    expect(mediaTypeCompression('application/vnd.oci.image.layer.v1.tar')).toBe('none');
    expect(mediaTypeCompression('application/vnd.docker.image.rootfs.diff.tar')).toBe('none');
    // Suffixes alone do not make a layer type.
    expect(mediaTypeCompression('application/vnd.example+zstd')).toBeUndefined();
    expect(mediaTypeCompression('__proto__')).toBeUndefined();
  });
});

describe('zstd layers', () => {
  const entries = (): Entry[] => [
    { path: '/etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
    file('/etc/motd', new TextEncoder().encode('hello from zstd\n')),
    // Larger than one 4 MiB frame: the blob is several frames.
    file('/big', textBytes(9 * 1024 * 1024, 1)),
  ];

  it('layerFromEntries({ compression: "zstd" }): an OCI +zstd layer that validates and reads back member by member', async () => {
    const layer = layerFromEntries(entries(), { compression: 'zstd' });
    expect(layer.mediaType).toBe(MediaType.layerZstd);
    const report = await validateLayer(layer);
    expect(report.problems).toEqual([]);
    expect(report.computed.compression).toBe('zstd');
    const blob = await collect(layer.compressed());
    const names: string[] = [];
    for await (const member of readTar(streamOf(blob))) {
      names.push(member.entry.path);
      if (member.entry.path === '/etc/motd') expect((await collect(member.body)).toString()).toBe('hello from zstd\n');
    }
    expect(names).toEqual(['/big', '/etc', '/etc/motd']);
    // The same tar under gzip: same diffID, another blob.
    const gz = layerFromEntries(entries());
    expect(await gz.diffId()).toBe(await layer.diffId());
    expect(await gz.digest()).not.toBe(await layer.digest());
  });

  it('is deterministic: the same entries give the same blob digest', async () => {
    const a = layerFromEntries(entries(), { compression: 'zstd' });
    const b = layerFromEntries(entries().reverse(), { compression: 'zstd' });
    expect(await a.digest()).toBe(await b.digest());
  });

  it.runIf(hasZstd)('zstd -d turns the blob back into the tar whose sha256 is the diffID', async () => {
    const layer = layerFromEntries(entries(), { compression: 'zstd', level: 5 });
    const dir = tempDir();
    writeFileSync(join(dir, 'blob.zst'), await collect(layer.compressed()));
    const r = spawnSync('zstd', ['-d', '-c', join(dir, 'blob.zst')], { maxBuffer: 1 << 26 });
    expect(r.status, String(r.stderr)).toBe(0);
    const { createHash } = await import('node:crypto');
    expect(`sha256:${createHash('sha256').update(r.stdout).digest('hex')}`).toBe(await layer.diffId());
    expect(spawnSync('zstd', ['-t', '-q', join(dir, 'blob.zst')]).status).toBe(0);
  });

  it.runIf(hasZstd)('layerFromTar over a blob zstd(1) wrote: an OCI +zstd layer whose diffID is the tar it holds', async () => {
    const tar = await collect(layerFromEntries(entries(), { compression: 'none' }).compressed());
    const dir = tempDir();
    writeFileSync(join(dir, 'layer.tar'), tar);
    expect(spawnSync('zstd', ['-q', '-f', join(dir, 'layer.tar'), '-o', join(dir, 'layer.tar.zst')]).status).toBe(0);
    const blob = readFileSync(join(dir, 'layer.tar.zst'));
    const layer = layerFromTar(() => streamOf(blob));
    const { createHash } = await import('node:crypto');
    expect(await layer.diffId()).toBe(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
    expect(layer.mediaType).toBe(MediaType.layerZstd);
    expect(await layer.digest()).toBe(`sha256:${createHash('sha256').update(blob).digest('hex')}`);
  });

  it('layerFromUncompressed recompresses a gzip layer to zstd with the same diffID', async () => {
    const gz = layerFromEntries(entries());
    const z = layerFromUncompressed(() => gz.uncompressed(), { compression: 'zstd' });
    expect(z.mediaType).toBe(MediaType.layerZstd);
    expect(await z.diffId()).toBe(await gz.diffId());
    expect((await validateLayer(z)).problems).toEqual([]);
  });
});
