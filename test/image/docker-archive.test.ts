import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { digestHex, sha256, sha256Stream } from '../../src/digest.js';
import { DigestMismatchError } from '../../src/errors.js';
import {
  AmbiguousReferenceError,
  appendLayers,
  emptyImage,
  ImageNotFoundError,
  ImageStore,
  InvalidArchiveError,
  InvalidReferenceError,
  listDockerArchive,
  loadImages,
  readDockerArchive,
  readOciLayout,
  withConfig,
  writeDockerArchive,
  type Image,
} from '../../src/image/index.js';
import type { Layer } from '../../src/layers/layer.js';
import { validateImage } from '../../src/testing/image.js';
import { layerOf, run, tempDir } from './helpers.js';

const amd64 = { os: 'linux', architecture: 'amd64' };

function sample(name: string): Image {
  return withConfig(appendLayers(emptyImage(amd64), layerOf({ '/base': 'shared' }), layerOf({ [`/${name}`]: name })), { config: { Cmd: [name] } });
}

async function bytesOf(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

async function tarMember(file: string, name: string): Promise<string> {
  return (await run('tar', ['-xOf', file, name])).stdout;
}

/** Builds a tar in memory from [name, bytes | symlink target] pairs. */
async function makeTar(members: Array<[string, Uint8Array | { symlink: string }]>): Promise<Buffer> {
  const pack = tarStream.pack();
  const done = bytesOf(pack as unknown as AsyncIterable<Uint8Array>);
  for (const [name, content] of members) {
    if (content instanceof Uint8Array) {
      await new Promise<void>((resolve, reject) => pack.entry({ name, size: content.byteLength }, Buffer.from(content), (e) => (e ? reject(e) : resolve())));
    } else {
      await new Promise<void>((resolve, reject) => pack.entry({ name, type: 'symlink', linkname: content.symlink }, (e) => (e ? reject(e) : resolve())));
    }
  }
  pack.finalize();
  return done;
}

/** An archive in the pre-Docker-25 layout: <id>/layer.tar, <config-hex>.json, manifest.json, repositories. */
async function legacyArchive(image: Image, options: { gzipLayers?: boolean; symlinks?: boolean } = {}): Promise<Buffer> {
  const rawConfig = await image.rawConfig();
  const configHex = digestHex(await image.configDigest());
  const members: Array<[string, Uint8Array | { symlink: string }]> = [];
  const layerPaths: string[] = [];
  for (const [i, layer] of (await image.layers()).entries()) {
    const tar = await bytesOf(layer.uncompressed());
    const id = digestHex(sha256(`legacy-${i}`));
    const payload = options.gzipLayers ? gzipSync(tar) : tar;
    if (options.symlinks) {
      members.push([`${digestHex(sha256(payload))}.tar`, payload]);
      members.push([`${id}/layer.tar`, { symlink: `../${digestHex(sha256(payload))}.tar` }]);
    } else {
      members.push([`${id}/layer.tar`, payload]);
    }
    members.push([`${id}/VERSION`, new TextEncoder().encode('1.0')]);
    members.push([`${id}/json`, new TextEncoder().encode(`{"id":"${id}"}`)]);
    layerPaths.push(`${id}/layer.tar`);
  }
  members.push([`${configHex}.json`, rawConfig]);
  members.push(['manifest.json', new TextEncoder().encode(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['old/app:1'], Layers: layerPaths }]))]);
  members.push(['repositories', new TextEncoder().encode('{"old/app":{"1":"x"}}')]);
  return makeTar(members);
}

describe('docker-archive', () => {
  it('writes the legacy view and an OCI layout in one tar, as Docker 25 does', async () => {
    const file = join(await tempDir(), 'a.tar');
    const image = sample('a');
    await writeDockerArchive(file, { image, tags: ['busybox', 'me/app:1'] });
    const listing = (await run('tar', ['-tf', file])).stdout.trim().split('\n');
    const diffIds = (await image.config()).rootfs.diff_ids;
    const cfg = `blobs/sha256/${digestHex(await image.configDigest())}`;
    expect(listing).toEqual(expect.arrayContaining(['blobs/', 'blobs/sha256/', 'index.json', 'manifest.json', 'oci-layout', 'repositories', cfg]));
    const manifestJson = JSON.parse(await tarMember(file, 'manifest.json'));
    expect(manifestJson).toEqual([
      { Config: cfg, RepoTags: ['busybox:latest', 'me/app:1'], Layers: diffIds.map((d) => `blobs/sha256/${digestHex(d as never)}`) },
    ]);
    expect(JSON.parse(await tarMember(file, 'repositories'))).toEqual({
      busybox: { latest: digestHex(diffIds[1] as never) },
      'me/app': { '1': digestHex(diffIds[1] as never) },
    });
    const index = JSON.parse(await tarMember(file, 'index.json'));
    expect(index.manifests.map((d: { annotations: unknown }) => d.annotations)).toEqual([
      { 'io.containerd.image.name': 'docker.io/library/busybox:latest', 'org.opencontainers.image.ref.name': 'latest' },
      { 'io.containerd.image.name': 'docker.io/me/app:1', 'org.opencontainers.image.ref.name': '1' },
    ]);
    // Layers are stored uncompressed: each blob's name is its diffID, and its bytes hash to it.
    for (const d of diffIds) {
      const { stdout } = await run('sh', ['-c', `tar -xOf '${file}' blobs/sha256/${digestHex(d as never)} | sha256sum`]);
      expect(`sha256:${stdout.split(' ')[0]}`).toBe(d);
    }
  });

  it('reads back what it wrote: same config bytes (image ID), uncompressed layers whose digest is the diffID', async () => {
    const file = join(await tempDir(), 'a.tar');
    const image = sample('a');
    await writeDockerArchive(file, { image, tags: ['me/app:1'] });
    const back = await readDockerArchive(file, 'me/app:1');
    expect(await back.configDigest()).toBe(await image.configDigest());
    const manifest = await back.manifest();
    const diffIds = (await back.config()).rootfs.diff_ids;
    expect(manifest.layers.map((l) => l.digest)).toEqual(diffIds);
    expect(manifest.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar')).toBe(true);
    expect((await validateImage(back)).problems).toEqual([]);
    // The tar is also an OCI layout, readable as such, giving the same manifest.
    const asLayout = await readOciLayout(file, 'me/app:1');
    expect(await asLayout.digest()).toBe(await back.digest());
    // And re-saving it gives the same bytes for every member.
    const again = join(await tempDir(), 'b.tar');
    await writeDockerArchive(again, { image: back, tags: ['me/app:1'] });
    expect(await readFile(again)).toEqual(await readFile(file));
  });

  it('shares blobs between images and picks images by normalized tag', async () => {
    const file = join(await tempDir(), 'two.tar');
    const a = sample('a');
    const b = sample('b');
    await writeDockerArchive(file, [{ image: a, tags: ['a'] }, { image: b, tags: ['example.com/b:2'] }]);
    const blobs = (await run('tar', ['-tf', file])).stdout.split('\n').filter((n) => /^blobs\/sha256\/./.test(n));
    expect(blobs).toHaveLength(3 + 2 * 2); // shared base + 2 own layers, 2 configs, 2 manifests
    expect(await (await readDockerArchive(file, 'docker.io/library/a:latest')).configDigest()).toBe(await a.configDigest());
    expect(await (await readDockerArchive(file, 'example.com/b:2')).configDigest()).toBe(await b.configDigest());
    expect((await listDockerArchive(file)).map((e) => e.RepoTags)).toEqual([['a:latest'], ['example.com/b:2']]);
    await expect(readDockerArchive(file)).rejects.toBeInstanceOf(AmbiguousReferenceError);
    const missing = await readDockerArchive(file, 'c').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ImageNotFoundError);
    expect((missing as ImageNotFoundError).data.available).toEqual(['a:latest', 'example.com/b:2']);
    // skopeo's @N: the image at that index of manifest.json.
    expect(await (await readDockerArchive(file, '@0')).configDigest()).toBe(await a.configDigest());
    expect(await (await readDockerArchive(file, '@1')).configDigest()).toBe(await b.configDigest());
    await expect(readDockerArchive(file, '@2')).rejects.toBeInstanceOf(ImageNotFoundError);
  });

  it('loads untagged images from an archive with no OCI view, each by its place in manifest.json', async () => {
    const dir = await tempDir();
    const saved = join(dir, 'saved.tar');
    const a = sample('a');
    const b = sample('b');
    await writeDockerArchive(saved, [{ image: a, tags: [] }, { image: b, tags: [] }]);
    // What older Docker wrote: manifest.json and the blobs, without index.json and oci-layout.
    await mkdir(join(dir, 'x'));
    await run('tar', ['-xf', saved, '-C', join(dir, 'x')]);
    const file = join(dir, 'legacy.tar');
    await run('tar', ['-cf', file, '-C', join(dir, 'x'), 'manifest.json', 'blobs']);
    expect((await run('tar', ['-tf', file])).stdout.split('\n')).not.toContain('index.json');
    const store = new ImageStore(join(await tempDir(), 'store'));
    const { images } = await loadImages(store, file);
    expect(images.map((i) => i.tags)).toEqual([[], []]);
    expect(images.map((i) => i.id)).toEqual([await a.configDigest(), await b.configDigest()]);
  });

  it.each<[string, { gzipLayers?: boolean; symlinks?: boolean }]>([
    ['plain layer.tar members', {}],
    ['gzip layer.tar members', { gzipLayers: true }],
    ['layer.tar symlinks to <digest>.tar (skopeo style)', { symlinks: true }],
  ])('reads the legacy layout: %s', async (_, options) => {
    const image = sample('legacy');
    const file = join(await tempDir(), 'legacy.tar');
    await writeFile(file, await legacyArchive(image, options));
    const back = await readDockerArchive(file);
    expect(await back.configDigest()).toBe(await image.configDigest());
    const layers = await back.layers();
    expect(layers.map((l) => l.mediaType)).toEqual(
      Array(2).fill(options.gzipLayers ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar'),
    );
    const original = await image.layers();
    for (const [i, layer] of layers.entries()) {
      expect(await layer.diffId()).toBe(await original[i]!.diffId());
      expect((await sha256Stream(layer.uncompressed())).digest).toBe(await original[i]!.diffId());
    }
    expect((await validateImage(back)).problems).toEqual([]);
  });

  it('reads a gzip-compressed archive (docker save | gzip)', async () => {
    const dir = await tempDir();
    const image = sample('gz');
    await writeDockerArchive(join(dir, 'a.tar'), { image, tags: ['gz:1'] });
    await writeFile(join(dir, 'a.tar.gz'), gzipSync(await readFile(join(dir, 'a.tar'))));
    const back = await readDockerArchive(join(dir, 'a.tar.gz'), 'gz:1');
    expect(await back.configDigest()).toBe(await image.configDigest());
    expect((await validateImage(back)).problems).toEqual([]);
  });

  it('rejects broken archives with typed errors', async () => {
    const dir = await tempDir();
    const image = sample('x');
    const configHex = digestHex(await image.configDigest());
    await writeFile(join(dir, 'none.tar'), await makeTar([['hello', new Uint8Array(1)]]));
    await expect(readDockerArchive(join(dir, 'none.tar'))).rejects.toBeInstanceOf(InvalidArchiveError);
    const manifest = (layers: string[]) => new TextEncoder().encode(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: null, Layers: layers }]));
    await writeFile(join(dir, 'nolayer.tar'), await makeTar([[`${configHex}.json`, await image.rawConfig()], ['manifest.json', manifest(['a/layer.tar', 'b/layer.tar'])]]));
    const err = await readDockerArchive(join(dir, 'nolayer.tar')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArchiveError);
    expect((err as InvalidArchiveError).data.entry).toBe('a/layer.tar');
    const tampered = new TextDecoder().decode(await image.rawConfig()).replace('"linux"', '"LINUX"');
    await writeFile(join(dir, 'tampered.tar'), await makeTar([[`${configHex}.json`, new TextEncoder().encode(tampered)], ['manifest.json', manifest(['a', 'b'])]]));
    await expect(readDockerArchive(join(dir, 'tampered.tar'))).rejects.toBeInstanceOf(DigestMismatchError);
    await writeFile(join(dir, 'count.tar'), await makeTar([[`${configHex}.json`, await image.rawConfig()], ['manifest.json', manifest(['a'])], ['a', new Uint8Array(1024)]]));
    await expect(readDockerArchive(join(dir, 'count.tar'))).rejects.toThrow(/lists 1 layers but the config has 2/);
    const truncated = (await readFile(join(dir, 'count.tar'))).subarray(0, 700);
    await writeFile(join(dir, 'truncated.tar'), truncated);
    await expect(readDockerArchive(join(dir, 'truncated.tar'))).rejects.toBeInstanceOf(InvalidArchiveError);
  });

  it('checks tags before writing and leaves no file when a layer lies about its diffID', async () => {
    const dir = await tempDir();
    await expect(writeDockerArchive(join(dir, 'x.tar'), { image: sample('a'), tags: ['UPPER'] })).rejects.toBeInstanceOf(InvalidReferenceError);
    await expect(writeDockerArchive(join(dir, 'x.tar'), { image: sample('a'), tags: [`a@sha256:${'0'.repeat(64)}`] })).rejects.toBeInstanceOf(InvalidReferenceError);
    const real = layerOf({ '/a': 'a' });
    const other = layerOf({ '/a': 'b' });
    const liar: Layer = { ...real, mediaType: real.mediaType, diffId: () => real.diffId(), digest: () => real.digest(), size: () => real.size(), compressed: () => real.compressed(), uncompressed: () => other.uncompressed() };
    await expect(writeDockerArchive(join(dir, 'x.tar'), appendLayers(emptyImage(amd64), liar))).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await readdir(dir)).toEqual([]);
  });
});
