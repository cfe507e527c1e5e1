import { mkdir, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { digestHex, sha256 } from '../../src/digest.js';
import { DigestMismatchError } from '../../src/errors.js';
import {
  AmbiguousReferenceError,
  appendLayers,
  BlobNotFoundError,
  canonicalJson,
  emptyImage,
  ImageNotFoundError,
  InvalidLayoutError,
  InvalidReferenceError,
  listOciLayout,
  readOciLayout,
  withConfig,
  writeOciLayout,
  type Image,
  type ImageIndex,
} from '../../src/image/index.js';
import type { Layer } from '../../src/layers/layer.js';
import { validateImage } from '../../src/testing/image.js';
import { brokenLayer, layerOf, tempDir } from './helpers.js';

const amd64 = { os: 'linux', architecture: 'amd64' };

function sample(name: string, platform = amd64): Image {
  return withConfig(appendLayers(emptyImage(platform), layerOf({ [`/${name}`]: name }), layerOf({ '/etc/os': name })), {
    config: { Cmd: [name] },
  });
}

async function drain(layer: Layer): Promise<number> {
  let n = 0;
  for await (const c of layer.uncompressed()) n += c.byteLength;
  return n;
}

async function rewriteIndex(dir: string, change: (index: ImageIndex) => void): Promise<void> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as ImageIndex;
  change(index);
  await writeFile(join(dir, 'index.json'), canonicalJson('index', index));
}

async function putBlob(dir: string, bytes: Uint8Array): Promise<string> {
  const digest = sha256(bytes);
  await writeFile(join(dir, 'blobs/sha256', digestHex(digest)), bytes);
  return digest;
}

describe('OCI layout', () => {
  it('round-trips through a directory: same digests, verified layers, a valid image', async () => {
    const dir = join(await tempDir(), 'layout');
    const image = sample('a');
    const index = await writeOciLayout(dir, { image, refs: ['v1'] });
    expect(index.manifests).toEqual([
      { mediaType: image.mediaType, digest: await image.digest(), size: (await image.rawManifest()).byteLength, annotations: { 'org.opencontainers.image.ref.name': 'v1' } },
    ]);
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const back = await readOciLayout(dir, 'v1');
    expect(await back.digest()).toBe(await image.digest());
    expect(await back.configDigest()).toBe(await image.configDigest());
    expect((await validateImage(back)).problems).toEqual([]);
    const names = (await readdir(join(dir, 'blobs/sha256'))).sort();
    expect(names).toHaveLength(4); // 2 layers, config, manifest
  });

  it('round-trips through a tar file, and a gzip-compressed one', async () => {
    const root = await tempDir();
    const image = sample('b');
    await writeOciLayout(join(root, 'out.tar'), { image, refs: ['latest'] });
    const back = await readOciLayout(join(root, 'out.tar'));
    expect(await back.digest()).toBe(await image.digest());
    expect((await validateImage(back)).problems).toEqual([]);
    await writeFile(join(root, 'out.tar.gz'), gzipSync(await readFile(join(root, 'out.tar'))));
    const fromGz = await readOciLayout(join(root, 'out.tar.gz'), 'latest');
    expect(await fromGz.digest()).toBe(await image.digest());
    for (const l of await fromGz.layers()) expect(await drain(l)).toBeGreaterThan(0);
  });

  it('writes a directory when asked even for a .tar name, and a tar for any name with tar: true', async () => {
    const root = await tempDir();
    await writeOciLayout(join(root, 'dir.tar'), sample('c'), { tar: false });
    expect((await readdir(join(root, 'dir.tar'))).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
    await writeOciLayout(join(root, 'plain'), sample('c'), { tar: true });
    expect((await readFile(join(root, 'plain'))).subarray(257, 262).toString()).toBe('ustar');
  });

  it('resolves refs, containerd image names (normalized) and digests', async () => {
    const dir = join(await tempDir(), 'layout');
    const a = sample('a');
    const b = sample('b');
    await writeOciLayout(dir, [
      { image: a, refs: ['a'], tags: ['me/app:1'] },
      { image: b, tags: ['busybox'] },
    ]);
    expect(await (await readOciLayout(dir, 'a')).digest()).toBe(await a.digest());
    expect(await (await readOciLayout(dir, 'me/app:1')).digest()).toBe(await a.digest());
    expect(await (await readOciLayout(dir, 'docker.io/me/app:1')).digest()).toBe(await a.digest());
    expect(await (await readOciLayout(dir, 'busybox:latest')).digest()).toBe(await b.digest());
    expect(await (await readOciLayout(dir, await b.digest())).digest()).toBe(await b.digest());
    const listed = await listOciLayout(dir);
    expect(listed.map((e) => e.imageName ?? e.refName).sort()).toEqual(['a', 'docker.io/library/busybox:latest', 'docker.io/me/app:1']);
    await expect(readOciLayout(dir, 'nope')).rejects.toBeInstanceOf(ImageNotFoundError);
    await expect(readOciLayout(dir)).rejects.toBeInstanceOf(AmbiguousReferenceError);
  });

  it('adds to an existing layout: blobs shared, a ref moved to the newer image', async () => {
    const dir = join(await tempDir(), 'layout');
    const a = sample('a');
    const b = sample('b');
    await writeOciLayout(dir, { image: a, refs: ['x', 'keep'] });
    await writeOciLayout(dir, { image: b, refs: ['x'] });
    expect(await (await readOciLayout(dir, 'x')).digest()).toBe(await b.digest());
    expect(await (await readOciLayout(dir, 'keep')).digest()).toBe(await a.digest());
    expect((await listOciLayout(dir)).length).toBe(2);
  });

  it('refuses bad names before writing anything, and a non-empty directory that is not a layout', async () => {
    const root = await tempDir();
    await expect(writeOciLayout(join(root, 'l'), { image: sample('a'), refs: ['bad ref'] })).rejects.toBeInstanceOf(InvalidReferenceError);
    await expect(writeOciLayout(join(root, 'l'), { image: sample('a'), tags: ['Bad/Name'] })).rejects.toBeInstanceOf(InvalidReferenceError);
    await expect(readdir(join(root, 'l'))).rejects.toMatchObject({ code: 'ENOENT' });
    await mkdir(join(root, 'busy'));
    await writeFile(join(root, 'busy', 'notes.txt'), 'hi');
    await expect(writeOciLayout(join(root, 'busy'), sample('a'))).rejects.toBeInstanceOf(InvalidLayoutError);
  });

  it('leaves no tar behind when a layer fails part way', async () => {
    const root = await tempDir();
    const good = layerOf({ '/a': 'a' });
    const failing = brokenLayer(good, 'read error');
    await expect(writeOciLayout(join(root, 'x.tar'), appendLayers(emptyImage(amd64), failing))).rejects.toThrow('read error');
    expect(await readdir(root)).toEqual([]);
  });

  it('is lenient: unknown media types in index.json are ignored; nested indexes resolve by platform past attestations', async () => {
    const dir = join(await tempDir(), 'layout');
    const amdImage = sample('amd');
    const armImage = sample('arm', { os: 'linux', architecture: 'arm64' });
    await writeOciLayout(dir, [amdImage, armImage]);
    const attestation = new TextEncoder().encode('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}');
    const attDigest = await putBlob(dir, attestation);
    const index = canonicalJson('index', {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: amdImage.mediaType, digest: await amdImage.digest(), size: (await amdImage.rawManifest()).byteLength, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: armImage.mediaType, digest: await armImage.digest(), size: (await armImage.rawManifest()).byteLength, platform: { architecture: 'arm64', os: 'linux' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: attDigest, size: attestation.byteLength, platform: { architecture: 'unknown', os: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
      ],
    });
    const indexDigest = await putBlob(dir, index);
    await rewriteIndex(dir, (i) => {
      i.manifests = [
        { mediaType: 'application/vnd.example.thing+json', digest: indexDigest, size: 1, annotations: { 'org.opencontainers.image.ref.name': 'multi' } },
        { mediaType: 'application/vnd.oci.image.index.v1+json', digest: indexDigest, size: index.byteLength, annotations: { 'org.opencontainers.image.ref.name': 'multi' } },
      ];
    });
    const arm = await readOciLayout(dir, 'multi', { platform: 'linux/arm64/v8' });
    expect(await arm.digest()).toBe(await armImage.digest());
    const amd = await readOciLayout(dir, 'multi', { platform: { os: 'linux', architecture: 'amd64' } });
    expect(await amd.digest()).toBe(await amdImage.digest());
    await expect(readOciLayout(dir, 'multi', { platform: 'linux/s390x' })).rejects.toBeInstanceOf(ImageNotFoundError);
  });

  it('checks the wanted platform against the config of a single-platform image', async () => {
    const dir = join(await tempDir(), 'layout');
    await writeOciLayout(dir, { image: sample('a'), refs: ['v1'] });
    expect((await (await readOciLayout(dir, 'v1', { platform: 'linux/amd64' })).config()).architecture).toBe('amd64');
    await expect(readOciLayout(dir, 'v1', { platform: 'linux/arm64' })).rejects.toThrow(/the image is linux\/amd64/);
  });

  it('refuses an oversized index.json instead of reading it into memory', async () => {
    const dir = join(await tempDir(), 'layout');
    await writeOciLayout(dir, { image: sample('a'), refs: ['v1'] });
    await truncate(join(dir, 'index.json'), 33 << 20);
    await expect(readOciLayout(dir, 'v1')).rejects.toBeInstanceOf(InvalidLayoutError);
  });

  it('verifies blobs: a corrupt config fails at read, a corrupt layer when streamed', async () => {
    const dir = join(await tempDir(), 'layout');
    const image = sample('a');
    await writeOciLayout(dir, { image, refs: ['v1'] });
    const layerDigest = (await image.manifest()).layers[1]!.digest;
    const layerPath = join(dir, 'blobs/sha256', digestHex(layerDigest as never));
    const bytes = await readFile(layerPath);
    bytes[bytes.length - 5] = (bytes[bytes.length - 5]! + 1) % 256;
    await writeFile(layerPath, bytes);
    const back = await readOciLayout(dir, 'v1');
    const layers = await back.layers();
    await drain(layers[0]!);
    await expect(drain(layers[1]!)).rejects.toBeInstanceOf(DigestMismatchError);
    const report = await validateImage(back);
    expect(report.ok).toBe(false);
    expect(report.problems.some((p) => p.layer === 1)).toBe(true);
    expect(report.problems.some((p) => p.layer === 0)).toBe(false);

    const configPath = join(dir, 'blobs/sha256', digestHex(await image.configDigest()));
    await writeFile(configPath, (await readFile(configPath, 'utf8')).replace('"amd64"', '"arm64"'));
    const err = await readOciLayout(dir, 'v1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).data.expected).toBe(await image.configDigest());
  });

  it('reports a missing layout marker, index or blob with typed errors', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'empty'));
    await expect(readOciLayout(join(root, 'empty'))).rejects.toBeInstanceOf(InvalidLayoutError);
    const dir = join(root, 'layout');
    const image = sample('a');
    await writeOciLayout(dir, { image, refs: ['v1'] });
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await expect(readOciLayout(dir)).rejects.toThrow(/unsupported imageLayoutVersion/);
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await rm(join(dir, 'blobs/sha256', digestHex(await image.digest())));
    await expect(readOciLayout(dir, 'v1')).rejects.toBeInstanceOf(BlobNotFoundError);
    await rm(join(dir, 'index.json'));
    await expect(readOciLayout(dir)).rejects.toThrow(/no index.json/);
  });
});
