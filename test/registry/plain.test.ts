/**
 * layerkit against a real CNCF Distribution registry (Debian's docker-registry)
 * over plain HTTP on loopback, with skopeo as the second, independent client.
 * A missing tool skips with a printed reason, and fails under CI=true.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOciLayout, writeOciLayout } from '../../src/image/layout.js';
import { ImageStore } from '../../src/image/store/store.js';
import { ImageMediaType } from '../../src/image/types.js';
import { RegistryClient, RegistryError, isRemoteLayer, pull, push, type RegistryEvent } from '../../src/registry/index.js';
import { validateImage } from '../../src/testing/image.js';
import { randomImage, recordingFetch } from './fixtures.js';
import { hasTool, startRegistry, type RunningRegistry, scopedTempDirs } from './helpers.js';

const exec = promisify(execFile);
const registryTool = await hasTool('docker-registry', 'the registry tests (apt-get install docker-registry)');
const skopeo = await hasTool('skopeo', 'the skopeo interop tests (apt-get install skopeo)');

const dir = scopedTempDirs();

describe.runIf(registryTool)('a plain loopback registry', () => {
  let reg: RunningRegistry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('push then pull gives the same image, tagged, with its RepoDigest recorded', async () => {
    const image = randomImage(3);
    const client = new RegistryClient();
    const pushed = await client.push(image, `${reg.host}/round/trip:1`);
    expect(pushed.digest).toBe(await image.digest());
    expect(pushed.mediaType).toBe(ImageMediaType.ociManifest);
    const store = new ImageStore(await dir('store'));
    const result = await pull(`${reg.host}/round/trip:1`, store);
    expect(result.manifestDigest).toBe(await image.digest());
    expect(result.imageId).toBe(await image.configDigest());
    const stored = await store.getImage(`${reg.host}/round/trip:1`);
    expect((await validateImage(stored)).problems).toEqual([]);
    expect(await stored.digest()).toBe(await image.digest());
    const info = await store.inspect(`${reg.host}/round/trip:1`);
    expect(info.RepoDigests).toContain(`${reg.host}/round/trip@${pushed.digest}`);
    expect(info.RepoTags).toEqual([`${reg.host}/round/trip:1`]);
    await client.close();
  });

  it('a second pull downloads no layer the store has, and says so in events', async () => {
    const image = randomImage(2);
    const client = new RegistryClient();
    await client.push(image, `${reg.host}/again/app:1`);
    await client.close();
    const store = new ImageStore(await dir('store'));
    await pull(`${reg.host}/again/app:1`, store);
    const recorder = recordingFetch();
    const events: RegistryEvent[] = [];
    await pull(`${reg.host}/again/app:1`, store, { fetch: recorder.fetch, onEvent: (e) => events.push(e) });
    const layerDigests = (await image.manifest()).layers.map((l) => l.digest);
    expect(recorder.requests.filter((r) => layerDigests.some((d) => r.includes(d)))).toEqual([]);
    expect(events.filter((e) => e.type === 'blob-done' && e.result === 'present').map((e) => (e as { digest: string }).digest).sort()).toEqual([...layerDigests].sort());
  });

  it('push skips blobs the registry has and mounts layers from another repository instead of downloading them', async () => {
    const image = randomImage(3);
    const client = new RegistryClient();
    await client.push(image, `${reg.host}/mount/source:1`);
    const recorder = recordingFetch();
    const events: RegistryEvent[] = [];
    const second = new RegistryClient({ fetch: recorder.fetch, onEvent: (e) => events.push(e) });
    const remote = await second.getImage(`${reg.host}/mount/source:1`);
    expect((await remote.layers()).every(isRemoteLayer)).toBe(true);
    const pushed = await second.push(remote, `${reg.host}/mount/target:1`);
    expect(pushed.digest).toBe(await image.digest());
    const layerDigests = (await image.manifest()).layers.map((l) => l.digest);
    // Not one layer byte travelled: each layer was mounted by a POST …?mount=…&from=mount/source.
    expect(recorder.requests.filter((r) => r.startsWith('GET') && layerDigests.some((d) => r.includes(d)))).toEqual([]);
    expect(recorder.requests.filter((r) => r.startsWith('POST') && r.includes('mount=') && r.includes('from=mount%2Fsource')).length).toBe(3);
    expect(events.filter((e) => e.type === 'blob-done' && e.result === 'mounted').length).toBe(3);
    // Pushing again: everything exists.
    const again: RegistryEvent[] = [];
    await new RegistryClient({ onEvent: (e) => again.push(e) }).push(image, `${reg.host}/mount/target:1`);
    expect(again.filter((e) => e.type === 'blob-done').map((e) => (e as { result: string }).result)).toEqual(['exists', 'exists', 'exists', 'exists']);
    const store = new ImageStore(await dir('store'));
    await pull(`${reg.host}/mount/target:1`, store);
    expect((await validateImage(await store.getImage(`${reg.host}/mount/target:1`))).problems).toEqual([]);
    await client.close();
    await second.close();
  });

  it('uploads in PATCH chunks when asked, and the registry accepts the blob', async () => {
    const image = randomImage(1, 64);
    const size = (await image.manifest()).layers[0]!.size;
    const recorder = recordingFetch();
    const client = new RegistryClient({ chunkSize: 16 * 1024, fetch: recorder.fetch });
    await client.push(image, `${reg.host}/chunked/app:1`);
    // The layer in 16 KiB chunks, and the small config in one.
    expect(recorder.requests.filter((r) => r.startsWith('PATCH')).length).toBe(Math.ceil(size / (16 * 1024)) + 1);
    const store = new ImageStore(await dir('store'));
    const result = await pull(`${reg.host}/chunked/app:1`, store);
    expect(result.manifestDigest).toBe(await image.digest());
    expect((await validateImage(await store.getImage(`${reg.host}/chunked/app:1`))).problems).toEqual([]);
  });

  it('an index of two platforms: pull picks the one asked for, and names what exists when it is missing', async () => {
    const amd64 = randomImage(1, 4, { os: 'linux', architecture: 'amd64' });
    const arm64 = randomImage(1, 4, { os: 'linux', architecture: 'arm64', variant: 'v8' });
    const client = new RegistryClient();
    const index = await client.pushIndex(
      [
        { image: amd64, platform: { os: 'linux', architecture: 'amd64' } },
        { image: arm64, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
      `${reg.host}/multi/app:1`,
    );
    const top = await client.getManifest(`${reg.host}/multi/app:1`);
    expect(top.mediaType).toBe(ImageMediaType.ociIndex);
    expect(top.digest).toBe(index.digest);
    const store = new ImageStore(await dir('store'));
    const got = await pull(`${reg.host}/multi/app:1`, store, { platform: { os: 'linux', architecture: 'arm64' } });
    expect(got.manifestDigest).toBe(await arm64.digest());
    expect((await got.image.config()).architecture).toBe('arm64');
    // RepoDigests name what the reference resolved to: the index.
    expect((await store.inspect(`${reg.host}/multi/app:1`)).RepoDigests).toContain(`${reg.host}/multi/app@${index.digest}`);
    const other = await client.getImage(`${reg.host}/multi/app:1`, { platform: { os: 'linux', architecture: 'amd64' } });
    expect(other.manifestDigest).toBe(await amd64.digest());
    expect(other.resolvedDigest).toBe(index.digest);
    const all = await client.getImages(`${reg.host}/multi/app:1`);
    expect(all.map((a) => `${a.platform.os}/${a.platform.architecture}`).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    const missing = await client.getImage(`${reg.host}/multi/app:1`, { platform: { os: 'linux', architecture: 's390x' } }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(RegistryError);
    expect((missing as RegistryError).code).toBe('NOT_FOUND');
    expect((missing as Error).message).toMatch(/linux\/s390x.*linux\/amd64, linux\/arm64\/v8/);
    // By digest, the platform's manifest is fetched and checked against the digest.
    const byDigest = await client.getManifest(`${reg.host}/multi/app@${await arm64.digest()}`);
    expect(byDigest.digest).toBe(await arm64.digest());
    await client.close();
  });

  it('a missing tag is MANIFEST_UNKNOWN naming the repository', async () => {
    const err = await new RegistryClient().getManifest(`${reg.host}/nothing/here:1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(['MANIFEST_UNKNOWN', 'NOT_FOUND']).toContain((err as RegistryError).code);
    expect((err as Error).message).toContain(`${reg.host}/nothing/here`);
  });

  it('push from the store records the pushed digest, and pull → push keeps the manifest digest', async () => {
    const store = new ImageStore(await dir('store'));
    const image = randomImage(2);
    await store.putImage(image, 'local/app:1');
    const pushed = await push(store, 'local/app:1', `${reg.host}/from/store:1`);
    expect(pushed.digest).toBe(await image.digest());
    expect((await store.inspect('local/app:1')).RepoDigests).toContain(`${reg.host}/from/store@${pushed.digest}`);
    const other = new ImageStore(await dir('store'));
    await pull(`${reg.host}/from/store:1`, other);
    const again = await push(other, `${reg.host}/from/store:1`, `${reg.host}/from/again:2`);
    expect(again.digest).toBe(pushed.digest);
  });

  describe.runIf(skopeo)('with skopeo', () => {
    it('skopeo copies and inspects what layerkit pushed', async () => {
      const image = randomImage(2);
      await new RegistryClient().push(image, `${reg.host}/sk/pushed:1`);
      const { stdout } = await exec('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/sk/pushed:1`]);
      const inspected = JSON.parse(stdout) as { Digest: string; Layers: string[] };
      expect(inspected.Digest).toBe(await image.digest());
      expect(inspected.Layers).toEqual((await image.manifest()).layers.map((l) => l.digest));
      const out = await dir('skopeo-out');
      await exec('skopeo', ['copy', '--src-tls-verify=false', `docker://${reg.host}/sk/pushed:1`, `oci:${join(out, 'layout')}:v1`]);
      const copied = await readOciLayout(join(out, 'layout'), 'v1');
      expect(await copied.digest()).toBe(await image.digest());
      expect((await validateImage(copied)).problems).toEqual([]);
    });

    it('layerkit pulls what skopeo pushed, OCI and Docker schema 2, and pushes it on with the same digest', async () => {
      const image = randomImage(2);
      const src = await dir('skopeo-src');
      await writeOciLayout(join(src, 'layout'), { image, refs: ['v1'] });
      await exec('skopeo', ['copy', '--dest-tls-verify=false', `oci:${join(src, 'layout')}:v1`, `docker://${reg.host}/sk/oci:1`]);
      await exec('skopeo', ['copy', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${join(src, 'layout')}:v1`, `docker://${reg.host}/sk/docker:1`]);
      const store = new ImageStore(await dir('store'));
      const oci = await pull(`${reg.host}/sk/oci:1`, store);
      expect(oci.manifestDigest).toBe(await image.digest());
      const docker = await pull(`${reg.host}/sk/docker:1`, store);
      expect(docker.image.mediaType).toBe(ImageMediaType.dockerManifest);
      expect(docker.imageId).toBe(await image.configDigest());
      const skopeoDigest = (JSON.parse((await exec('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/sk/docker:1`])).stdout) as { Digest: string }).Digest;
      expect(docker.manifestDigest).toBe(skopeoDigest);
      const stored = await store.getImage(`${reg.host}/sk/docker:1`);
      expect((await validateImage(stored)).problems).toEqual([]);
      // The Docker manifest goes back out byte for byte: same digest in a new repository.
      const again = await push(store, `${reg.host}/sk/docker:1`, `${reg.host}/sk/docker-again:1`);
      expect(again.digest).toBe(skopeoDigest);
      const reinspected = JSON.parse((await exec('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/sk/docker-again:1`])).stdout) as { Digest: string };
      expect(reinspected.Digest).toBe(skopeoDigest);
    });
  });
});
