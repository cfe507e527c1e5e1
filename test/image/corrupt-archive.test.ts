/**
 * Damaged archives and layers: a truncated or corrupt gzip (or zstd) archive,
 * and a layer whose first byte is flipped, through the API, a docker-archive://
 * base and the real program. Each is a typed error naming the archive or the
 * layer and saying what is wrong; nothing is stored.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/builder/errors.js';
import { sha256 } from '../../src/digest.js';
import { LayerkitError } from '../../src/errors.js';
import { writeDockerArchive } from '../../src/image/docker-archive.js';
import { InvalidArchiveError, InvalidImageError } from '../../src/image/errors.js';
import { appendLayers } from '../../src/image/mutate.js';
import { emptyImage } from '../../src/image/image.js';
import { loadImages } from '../../src/image/store/import.js';
import { TarArchive } from '../../src/image/tar-archive.js';
import { writeArchive, type ArchiveMember } from '../../src/image/tar-writer.js';
import { collect as collectStream } from '../../src/image/streams.js';
import { compress } from '../../src/layers/compress/index.js';
import { TarFormatError } from '../../src/layers/errors.js';
import { readTar } from '../../src/layers/tar/read.js';
import { buildText, freshStore } from '../builder/helpers.js';
import { layerOf, tempDir } from './helpers.js';

const repo = resolve(import.meta.dirname, '../..');

/** The real program, as a user runs it. */
function layerkit(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/main.ts'), ...args], { cwd: repo, timeout: 120_000 }, (err, stdout, stderr) => {
      const status = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      done({ status, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [])).sort();
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** A docker-archive of one small image, as bytes. */
async function dockerArchive(dir: string): Promise<Uint8Array> {
  const path = join(dir, 'ok.tar');
  await writeDockerArchive(path, { image: appendLayers(emptyImage(), layerOf({ '/hello': 'hello\n' })), tags: ['ok:1'] });
  return readFile(path);
}

/**
 * The archive at `path` rewritten with its one layer gzip-compressed and the
 * first byte of that gzip flipped; member name and manifest follow the new
 * blob's digest, so only the bytes themselves are wrong.
 */
async function withFlippedGzipLayer(path: string, out: string): Promise<string> {
  const archive = await TarArchive.open(path);
  const manifest = JSON.parse(new TextDecoder().decode(await archive.read('manifest.json'))) as Array<{ Layers: string[] }>;
  const layerName = manifest[0]!.Layers[0]!;
  const gz = Buffer.from(await collectStream(compress(archive.open(archive.file(layerName)!), 'gzip')));
  gz[0] = gz[0]! ^ 0x01;
  const digest = sha256(gz);
  const name = `blobs/sha256/${digest.slice('sha256:'.length)}`;
  manifest[0]!.Layers[0] = name;
  const members: ArchiveMember[] = [];
  for (const m of archive.members()) {
    if (m.type === 'dir') members.push({ name: m.name, type: 'dir' });
    else if (m.name === layerName || m.name === 'index.json' || m.name === 'oci-layout') continue; // the legacy view only
    else if (m.name === 'manifest.json') {
      const bytes = new TextEncoder().encode(JSON.stringify(manifest));
      members.push({ name: m.name, type: 'file', size: bytes.byteLength, content: bytes });
    } else members.push({ name: m.name, type: 'file', size: m.size, content: await collectStream(archive.open(m)) });
  }
  members.push({ name, type: 'file', size: gz.byteLength, content: gz });
  await writeArchive(out, members);
  return digest;
}

describe('damaged archives', () => {
  it('a truncated or corrupt gzip archive: InvalidArchiveError naming the file and the damage; the store untouched', async () => {
    const dir = await tempDir();
    const gz = gzipSync(await dockerArchive(dir));
    const truncated = join(dir, 'truncated.tar.gz');
    await writeFile(truncated, gz.subarray(0, Math.floor(gz.byteLength / 2)));
    const corrupt = join(dir, 'corrupt.tar.gz');
    const flipped = Buffer.from(gz);
    flipped[Math.floor(gz.byteLength / 2)] = flipped[Math.floor(gz.byteLength / 2)]! ^ 0x55;
    await writeFile(corrupt, flipped);
    const store = await freshStore();
    const before = await filesUnder(store.root);

    const a = await loadImages(store, truncated).catch((e: unknown) => e);
    expect(a).toBeInstanceOf(InvalidArchiveError);
    expect((a as InvalidArchiveError).data).toEqual({ path: truncated, reason: 'truncated gzip stream' });
    expect((a as Error).message).toBe(`invalid archive ${truncated}: truncated gzip stream`);

    const b = await loadImages(store, corrupt).catch((e: unknown) => e);
    expect(b).toBeInstanceOf(InvalidArchiveError);
    expect((b as InvalidArchiveError).data.path).toBe(corrupt);
    expect((b as InvalidArchiveError).data.reason).toMatch(/^corrupt gzip stream \(/);
    expect(await filesUnder(store.root)).toEqual(before);
  });

  it('a truncated zstd archive is one too', async () => {
    const dir = await tempDir();
    const zst = await collectStream(compress(once(await dockerArchive(dir)), 'zstd'));
    const truncated = join(dir, 'truncated.tar.zst');
    await writeFile(truncated, zst.subarray(0, zst.byteLength - 20));
    const err = await loadImages(await freshStore(), truncated).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArchiveError);
    expect((err as InvalidArchiveError).data).toEqual({ path: truncated, reason: 'truncated zstd stream' });
    // Whole, it loads.
    const whole = join(dir, 'whole.tar.zst');
    await writeFile(whole, zst);
    expect((await loadImages(await freshStore(), whole)).images).toHaveLength(1);
  });

  it('layerkit load -i broken.tar.gz: one line on stderr, status 1, no stack trace', async () => {
    const dir = await tempDir();
    const gz = gzipSync(await dockerArchive(dir));
    const broken = join(dir, 'broken.tar.gz');
    await writeFile(broken, gz.subarray(0, gz.byteLength - 30));
    const store = join(dir, 'store');
    const r = await layerkit(['load', '--store', store, '-i', broken]);
    expect(r).toEqual({ status: 1, stdout: '', stderr: `layerkit load: invalid archive ${broken}: truncated gzip stream\n` });
    expect(await filesUnder(join(store, 'blobs'))).toEqual([]);
  });

  it('a flipped first byte of a gzip layer names the layer and shows its first bytes (load, and a docker-archive:// base)', async () => {
    const dir = await tempDir();
    await dockerArchive(dir);
    const bad = join(dir, 'flipped.tar');
    const digest = await withFlippedGzipLayer(join(dir, 'ok.tar'), bad);
    const store = await freshStore();
    const err = await loadImages(store, bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidImageError);
    expect((err as InvalidImageError).data.reason).toBe('not a gzip/zstd/tar stream: first bytes 1e 8b 08 00 00 00 00 00');
    expect((err as InvalidImageError).data.what).toContain(digest);
    expect((err as InvalidImageError).data.what).toContain(bad);

    const built = await buildText(`FROM docker-archive://${bad}\nCOPY a /a\n`, { a: 'A' }, { store }).catch((e: unknown) => e);
    expect(built).toBeInstanceOf(LayerkitError);
    expect((built as Error).message).toContain('not a gzip/zstd/tar stream: first bytes 1e 8b');
    expect((built as Error).message).toContain(digest);

    const r = await layerkit(['load', '--store', join(dir, 'cli-store'), '-i', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^layerkit load: invalid layer 0 .*: not a gzip\/zstd\/tar stream: first bytes 1e 8b 08 00 00 00 00 00\n$/);
  });

  it('a docker-archive:// base that is a truncated gzip: the build fails naming the file', async () => {
    const dir = await tempDir();
    const gz = gzipSync(await dockerArchive(dir));
    const truncated = join(dir, 'base.tar.gz');
    await writeFile(truncated, gz.subarray(0, gz.byteLength - 30));
    const err = await buildText(`FROM docker-archive://${truncated}\n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as Error).message).toContain(`invalid archive ${truncated}: truncated gzip stream`);
  });

  it('readTar of bytes that are no archive says so, with the first bytes', async () => {
    const garbage = new Uint8Array(1024).fill(0x41);
    garbage.set([0x1e, 0x08], 0);
    const err = await (async () => {
      for await (const _ of readTar(once(garbage))) void _;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TarFormatError);
    expect((err as Error).message).toContain('not a gzip/zstd/tar stream: first bytes 1e 08 41 41 41 41 41 41');
  });
});
