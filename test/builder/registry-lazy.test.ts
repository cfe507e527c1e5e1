// Lazy bases: a COPY-only build on a registry base, pushed to the same
// registry, downloads none of the base's layer blobs (counted by a proxy in
// front of a real registry) and gives the same image digest as the build over
// a base pulled into the store. Also: several platforms as one index.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import type { BuildEvent } from '../../src/builder/events.js';
import { formatPlatform, hostPlatform } from '../../src/image/platform.js';
import { RegistryClient, push } from '../../src/registry/index.js';
import { buildText, freshStore, rootfs, writeContext } from './helpers.js';
import { run, tool } from '../layers/interop-helpers.js';
import { blobBytes, hasRegistry, startProxy, startRegistry, type FaultProxy, type RunningRegistry } from '../registry/helpers.js';

const enabled = hasRegistry();
const describeRegistry = describe.runIf(enabled);

const BASE_FILES = {
  'etc/os-release': 'ID=lazy\n',
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
  'app/lib/base.js': 'base\n'.repeat(1000),
  'app/bin': { symlink: 'lib' },
  'srv/data': { dir: true, mode: 0o750 },
} as const;
// Destinations that resolve through the base's tree: an existing directory, a symlink, a new path, the workdir.
const DOCKERFILE = (base: string) => `FROM ${base}\nWORKDIR /srv/data\nCOPY hello.txt /app/\nCOPY hello.txt /app/bin/\nCOPY --chown=1000:1000 hello.txt ./\nCOPY hello.txt /new/dir/\nENV X=1\n`;
const FILES = { 'hello.txt': 'hello\n' };

describeRegistry('lazy registry bases', () => {
  let registry: RunningRegistry;
  let proxy: FaultProxy;
  let baseLayers: string[];

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startProxy(registry, () => ({ kind: 'pass' }));
    // Built and pushed by layerkit: its layer indexes are published beside it.
    const base = await buildText('FROM scratch\nCOPY etc/ /etc/\nCOPY app/ /app/\nCOPY srv/ /srv/\n', BASE_FILES, { output: `type=registry,name=${registry.host}/lazy/base:1` });
    baseLayers = await Promise.all((await base.image.layers()).map((l) => l.digest()));
    // The same image pushed by the plain client: no indexes.
    await push(base.store, base.imageId, `${registry.host}/plain/base:1`);
  }, 60_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  it('COPY onto a registry base and push: no base layer byte downloaded, the same digest as over a pulled base', async () => {
    const events: BuildEvent[] = [];
    const store = await freshStore();
    const before = proxy.seen.length;
    const context = await writeContext(FILES);
    const lazy = await build({ context, store, sourceDateEpoch: 1700000000, xattrs: false, dockerfileText: DOCKERFILE(`${proxy.host}/lazy/base:1`), output: `type=registry,name=${proxy.host}/lazy/out:1`, onEvent: (e) => events.push(e) });
    // Counted before anything reads the result back.
    const requests = proxy.seen.slice(before);
    const downloaded = requests.filter((r) => r.method === 'GET' && baseLayers.some((d) => r.path.endsWith(`/blobs/${d}`)));
    expect(downloaded.map((r) => r.path)).toEqual([]);
    expect(blobBytes(proxy, baseLayers)).toBe(0);
    // The base's layers reached the new repository by cross-repository mounts.
    expect(requests.filter((r) => r.method === 'POST' && r.path.includes('mount=') && r.status === 201)).toHaveLength(baseLayers.length);
    expect(requests.some((r) => r.method === 'GET' && r.path.endsWith(`/manifests/1`))).toBe(true);
    expect(events.filter((e) => e.type === 'base-download')).toEqual([]);
    expect(lazy.stored).toBe(false);
    expect(lazy.pushed).toEqual([{ reference: `${proxy.host}/lazy/out:1`, digest: lazy.digest }]);

    // The same build over the base pulled into a store first.
    const pulledStore = await freshStore();
    // Pulled: the base's manifest, config and layer blobs in the store under its reference, no layer index.
    await pulledStore.putImage(await new RegistryClient().getImage(`${proxy.host}/lazy/base:1`), [`${proxy.host}/lazy/base:1`]);
    const full = await buildText(DOCKERFILE(`${proxy.host}/lazy/base:1`), FILES, { store: pulledStore });
    expect(full.stored).toBe(true);
    expect(lazy.digest).toBe(full.digest);

    // What the registry holds is a complete image: a second client reads every file.
    const remote = await new RegistryClient().getImage(`${registry.host}/lazy/out:1`);
    const tree = await rootfs(remote);
    for (const path of ['/app/hello.txt', '/app/lib/hello.txt', '/srv/data/hello.txt', '/new/dir/hello.txt', '/app/lib/base.js']) expect(tree.has(path), path).toBe(true);
    expect(tree.get('/srv/data')?.mode).toBe(0o750);

    // An independent client agrees: skopeo copies the lazily pushed image (every blob read and verified) and names the same digest.
    if (tool('skopeo')) {
      const dir = await mkdtemp(join(tmpdir(), 'layerkit-skopeo-'));
      try {
        run('skopeo', ['copy', '--src-tls-verify=false', `docker://${registry.host}/lazy/out:1`, `oci:${dir}:out`]);
        const inspected = JSON.parse(run('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.host}/lazy/out:1`])) as { Digest: string; Layers: string[] };
        expect(inspected.Digest).toBe(lazy.digest);
        expect(inspected.Layers.slice(0, baseLayers.length)).toEqual(baseLayers);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }, 90_000);

  it('a base without published indexes is downloaded for its tree (a base-download event says why); same digest', async () => {
    const events: BuildEvent[] = [];
    const result = await buildText(DOCKERFILE(`${registry.host}/plain/base:1`), FILES, { output: `type=registry,name=${registry.host}/plain/out:1`, onEvent: (e) => events.push(e) });
    const downloads = events.flatMap((e) => (e.type === 'base-download' ? [e] : []));
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.every((e) => e.reason === 'file-tree')).toBe(true);
    const reference = await buildText(DOCKERFILE(`${registry.host}/lazy/base:1`), FILES, {});
    expect(result.digest).toBe(reference.digest);
  }, 90_000);

  it('a local store result, or load: true, downloads the base layers into the store', async () => {
    const events: BuildEvent[] = [];
    const store = await freshStore();
    const result = await buildText(DOCKERFILE(`${registry.host}/lazy/base:1`), FILES, { store, output: `type=registry,name=${registry.host}/lazy/loaded:1`, load: true, onEvent: (e) => events.push(e) });
    expect(result.stored).toBe(true);
    expect(events.filter((e) => e.type === 'base-download').map((e) => (e as { reason: string }).reason)).toEqual(baseLayers.map(() => 'store'));
    expect((await store.inspect(result.imageId)).RepoDigests).toEqual([`${registry.host}/lazy/loaded@${result.digest}`]);
  }, 90_000);

  it('several platforms: one OCI index, each image on the base of its platform; RUN-less only', async () => {
    const platforms = ['linux/amd64', 'linux/arm64'];
    // A two-platform base, itself a multi-platform build.
    const base = await buildText('FROM scratch\nARG TARGETARCH\nCOPY ${TARGETARCH}.txt /arch.txt\n', { 'amd64.txt': 'amd64\n', 'arm64.txt': 'arm64\n' }, {
      platforms,
      output: `type=registry,name=${registry.host}/multi/base:1`,
    });
    expect(base.platforms?.map((p) => formatPlatform(p.platform))).toEqual(platforms);
    const result = await buildText('FROM ' + registry.host + '/multi/base:1\nCOPY hello.txt /\n', FILES, { platforms, tags: `${registry.host}/multi/out:1`, push: true });
    const client = new RegistryClient();
    const top = await client.getManifest(`${registry.host}/multi/out:1`);
    expect(top.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(top.digest).toBe(result.digest);
    const images = await client.getImages(`${registry.host}/multi/out:1`);
    expect(images.map((i) => formatPlatform(i.platform))).toEqual(platforms);
    for (const { platform, image } of images) {
      const config = await image.config();
      expect(formatPlatform({ os: config.os, architecture: config.architecture })).toBe(formatPlatform(platform));
      const tree = await rootfs(image);
      const arch = tree.get('/arch.txt');
      expect(arch?.size).toBe(`${platform.architecture}\n`.length);
      expect(tree.has('/hello.txt')).toBe(true);
      const baseImage = (await client.getImages(`${registry.host}/multi/base:1`)).find((b) => b.platform.architecture === platform.architecture)!.image;
      expect(await (await image.layers())[0]!.digest()).toBe(await (await baseImage.layers())[0]!.digest());
    }
    if (tool('skopeo')) {
      const raw = JSON.parse(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/multi/out:1`])) as { mediaType: string; manifests: Array<{ digest: string; platform: { architecture: string } }> };
      expect(raw.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(raw.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
      expect(raw.manifests.map((m) => m.digest)).toEqual(result.platforms!.map((p) => p.digest));
      const dir = await mkdtemp(join(tmpdir(), 'layerkit-skopeo-'));
      try {
        run('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${registry.host}/multi/out:1`, `oci:${dir}:out`]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    // One foreign platform, RUN-less, into the store: the base's image of that platform, labelled as such.
    const foreignPlatform = platforms.find((p) => p !== formatPlatform(hostPlatform()))!;
    const single = await buildText('FROM ' + registry.host + '/multi/base:1\nCOPY hello.txt /\n', FILES, { platform: foreignPlatform });
    expect(single.stored).toBe(true);
    const singleConfig = await single.image.config();
    expect(`${singleConfig.os}/${singleConfig.architecture}`).toBe(foreignPlatform);
    expect((await rootfs(single.image)).get('/arch.txt')?.size).toBe(`${foreignPlatform.split('/')[1]}\n`.length);
    expect(single.digest).toBe(result.platforms!.find((p) => formatPlatform(p.platform) === foreignPlatform)!.digest);
    // A multi-platform build cannot go to the local store, and RUN for the foreign platform is refused.
    await expect(buildText('FROM scratch\nCOPY hello.txt /\n', FILES, { platforms })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    const foreign = platforms.find((p) => p !== formatPlatform(hostPlatform()))!;
    const context = await writeContext(FILES);
    const refused = await build({ context, store: await freshStore(), dockerfileText: 'FROM scratch\nRUN true\n', platforms, output: `type=registry,name=${registry.host}/multi/run:1`, executor: { run: async () => ({ layer: null }) } }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'FOREIGN_PLATFORM_RUN' });
    expect((refused as Error).message).toContain(foreign);
  }, 120_000);
});
