/**
 * Interop with real tools: skopeo and umoci read what we write, and we read
 * what skopeo writes. A missing tool skips with a printed reason, and fails
 * under CI=true.
 */
import { lstat, readFile, readlink, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  appendHistory,
  appendLayers,
  emptyImage,
  ImageStore,
  readDockerArchive,
  readOciLayout,
  withConfig,
  withCreated,
  writeDockerArchive,
  writeImageOutput,
  writeOciLayout,
  type Image,
} from '../../src/image/index.js';
import { layerFromTar } from '../../src/layers/from-tar.js';
import { encodeRawTar } from '../../src/testing/layers.js';
import { validateImage } from '../../src/testing/image.js';
import { run, tempDir, which } from './helpers.js';

const skopeo = await which('skopeo');
const umoci = await which('umoci');

const enc = new TextEncoder();

/** Two layers: the second deletes /etc/old with a whiteout and adds /etc/new. */
function sampleImage(): Image {
  const base = encodeRawTar([
    { name: 'bin/', type: 'dir' },
    { name: 'bin/tool', type: 'file', mode: 0o755, data: enc.encode('#!/bin/sh\necho tool\n') },
    { name: 'bin/alias', type: 'symlink', linkname: 'tool' },
    { name: 'etc/', type: 'dir' },
    { name: 'etc/old', type: 'file', data: enc.encode('old\n') },
    { name: 'etc/keep', type: 'file', data: enc.encode('keep\n') },
  ]);
  const top = encodeRawTar([
    { name: 'etc/', type: 'dir' },
    { name: 'etc/.wh.old', type: 'file' },
    { name: 'etc/new', type: 'file', data: enc.encode('new\n') },
  ]);
  const once = (bytes: Uint8Array) => async function* () {
    yield bytes;
  };
  const l1 = layerFromTar(once(base));
  const l2 = layerFromTar(once(top));
  const image = appendLayers(
    emptyImage({ os: 'linux', architecture: 'amd64' }),
    { layer: l1, history: { created_by: 'ADD rootfs /' } },
    { layer: l2, history: { created_by: 'RUN rm /etc/old && echo new > /etc/new' } },
  );
  return withCreated(
    withConfig(appendHistory(image, { created_by: 'CMD ["/bin/tool"]' }), {
      config: { Cmd: ['/bin/tool'], Env: ['PATH=/bin'], Labels: { 'org.example': 'yes' }, WorkingDir: '/etc' },
    }),
    new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
  );
}

async function skopeoInspect(transport: string): Promise<Record<string, unknown>> {
  const { stdout } = await run('skopeo', ['--insecure-policy', 'inspect', transport]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

async function skopeoCopy(from: string, to: string): Promise<void> {
  await run('skopeo', ['--insecure-policy', 'copy', '--quiet', from, to]);
}

async function expectSameContent(a: Image, b: Image): Promise<void> {
  expect((await b.config()).rootfs.diff_ids).toEqual((await a.config()).rootfs.diff_ids);
  expect((await b.config()).config).toEqual((await a.config()).config);
  expect((await validateImage(b)).problems).toEqual([]);
}

async function expectRootfs(rootfs: string): Promise<void> {
  expect((await readdir(join(rootfs, 'etc'))).sort()).toEqual(['keep', 'new']);
  expect(await readFile(join(rootfs, 'etc/new'), 'utf8')).toBe('new\n');
  expect(await readFile(join(rootfs, 'bin/tool'), 'utf8')).toBe('#!/bin/sh\necho tool\n');
  expect((await lstat(join(rootfs, 'bin/tool'))).mode & 0o777).toBe(0o755);
  expect(await readlink(join(rootfs, 'bin/alias'))).toBe('tool');
}

describe.runIf(skopeo)('skopeo', () => {
  it('inspects an OCI layout directory and tar we wrote', async () => {
    const root = await tempDir();
    const image = sampleImage();
    await writeOciLayout(join(root, 'dir'), { image, refs: ['v1'] });
    await writeOciLayout(join(root, 'out.tar'), { image, refs: ['v1'] });
    const layers = (await image.manifest()).layers.map((l) => l.digest);
    for (const transport of [`oci:${join(root, 'dir')}:v1`, `oci-archive:${join(root, 'out.tar')}:v1`]) {
      const info = await skopeoInspect(transport);
      expect(info.Digest).toBe(await image.digest());
      expect(info.Layers).toEqual(layers);
      expect(info.Architecture).toBe('amd64');
      expect(info.Os).toBe('linux');
      expect(info.Created).toBe('2024-01-02T03:04:05Z');
      expect(info.Labels).toEqual({ 'org.example': 'yes' });
    }
  });

  it('inspects and copies a docker-archive we wrote; we read what it copied', async () => {
    const root = await tempDir();
    const image = sampleImage();
    const file = join(root, 'a.tar');
    await writeDockerArchive(file, { image, tags: ['me/app:1'] });
    const info = await skopeoInspect(`docker-archive:${file}`);
    expect(info.Layers).toEqual((await image.config()).rootfs.diff_ids); // uncompressed: digest = diffID
    expect(info.Architecture).toBe('amd64');
    await skopeoCopy(`docker-archive:${file}`, `oci:${join(root, 'copied')}:x`);
    await expectSameContent(image, await readOciLayout(join(root, 'copied'), 'x'));
    // With several images, skopeo picks by tag.
    const other = withConfig(sampleImage(), { config: { Cmd: ['other'] } });
    await writeDockerArchive(join(root, 'two.tar'), [{ image, tags: ['me/app:1'] }, { image: other, tags: ['me/other:2'] }]);
    await skopeoCopy(`docker-archive:${join(root, 'two.tar')}:me/other:2`, `oci:${join(root, 'picked')}:y`);
    await expectSameContent(other, await readOciLayout(join(root, 'picked'), 'y'));
  });

  it('writes layouts and archives we read: oci→oci keeps the manifest, docker-archive and oci-archive read back', async () => {
    const root = await tempDir();
    const image = sampleImage();
    await writeOciLayout(join(root, 'a'), { image, refs: ['v1'] });
    await skopeoCopy(`oci:${join(root, 'a')}:v1`, `oci:${join(root, 'b')}:v2`);
    const b = await readOciLayout(join(root, 'b'), 'v2');
    expect(await b.digest()).toBe(await image.digest());
    expect((await validateImage(b)).problems).toEqual([]);

    await skopeoCopy(`oci:${join(root, 'a')}:v1`, `docker-archive:${join(root, 'd.tar')}:foo/bar:2`);
    await expectSameContent(image, await readDockerArchive(join(root, 'd.tar'), 'foo/bar:2'));

    await skopeoCopy(`oci:${join(root, 'a')}:v1`, `oci-archive:${join(root, 'o.tar')}:v3`);
    await expectSameContent(image, await readOciLayout(join(root, 'o.tar'), 'v3'));
  });

  it('reads the store directory as an OCI layout, and a buildx-style export', async () => {
    const root = await tempDir();
    const image = sampleImage();
    const store = new ImageStore(join(root, 'store'));
    await store.putImage(image, 'me/app:1');
    const info = await skopeoInspect(`oci:${join(root, 'store')}:docker.io/me/app:1`);
    expect(info.Digest).toBe(await image.digest());
    await writeImageOutput(image, `type=oci,dest=${join(root, 'bx.tar')},name=me/app:7`);
    expect((await skopeoInspect(`oci-archive:${join(root, 'bx.tar')}:7`)).Digest).toBe(await image.digest());
    await writeImageOutput(image, `type=docker,dest=${join(root, 'bx-docker.tar')},name=me/app:7`);
    expect((await skopeoInspect(`docker-archive:${join(root, 'bx-docker.tar')}:me/app:7`)).Architecture).toBe('amd64');
  });
});

describe.runIf(umoci)('umoci', () => {
  it('unpacks a layout we wrote to the expected tree (whiteout applied)', async () => {
    const root = await tempDir();
    const image = sampleImage();
    await writeOciLayout(join(root, 'layout'), { image, refs: ['v1'] });
    await run('umoci', ['raw', 'unpack', '--image', `${join(root, 'layout')}:v1`, join(root, 'rootfs')]);
    await expectRootfs(join(root, 'rootfs'));
  });

  it('unpacks a bundle whose runtime config follows the image config', async () => {
    const root = await tempDir();
    const image = sampleImage();
    await writeOciLayout(join(root, 'layout'), { image, refs: ['v1'] });
    await run('umoci', ['unpack', '--rootless', '--image', `${join(root, 'layout')}:v1`, join(root, 'bundle')]);
    await expectRootfs(join(root, 'bundle', 'rootfs'));
    const spec = JSON.parse(await readFile(join(root, 'bundle', 'config.json'), 'utf8')) as { process: { args: string[]; cwd: string; env: string[] } };
    expect(spec.process.args).toEqual(['/bin/tool']);
    expect(spec.process.cwd).toBe('/etc');
    expect(spec.process.env).toContain('PATH=/bin');
  });

  it('unpacks an image after skopeo round-trips it through a docker-archive we wrote', async () => {
    if (!skopeo) return;
    const root = await tempDir();
    await writeDockerArchive(join(root, 'a.tar'), { image: sampleImage(), tags: ['x:1'] });
    await skopeoCopy(`docker-archive:${join(root, 'a.tar')}`, `oci:${join(root, 'layout')}:v1`);
    await run('umoci', ['raw', 'unpack', '--image', `${join(root, 'layout')}:v1`, join(root, 'rootfs')]);
    await expectRootfs(join(root, 'rootfs'));
  });
});
