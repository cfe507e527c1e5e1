// The builder against a real registry (Debian's docker-registry on a loopback
// port): FROM and COPY --from pull what the store lacks, `pull` re-resolves,
// pushes in every spelling record RepoDigests, named docker-image:// contexts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { BuildError } from '../../src/builder/errors.js';
import type { BuildEvent } from '../../src/builder/events.js';
import { parseOutputSpec, writeImageOutput } from '../../src/image/output-spec.js';
import { hostPlatform } from '../../src/image/platform.js';
import { RegistryClient, push } from '../../src/registry/index.js';
import { buildText, freshStore, rootfs, tempDir, writeContext } from './helpers.js';
import { hasRegistry, startRegistry, type RunningRegistry as TestRegistry } from '../registry/helpers.js';

describe('registry output specs', () => {
  it.each([
    ['type=registry,name=localhost:5000/app:1', { type: 'registry', dest: '', tar: false, names: ['localhost:5000/app:1'], push: true }],
    ['type=image,name=localhost:5000/app:1,push=true', { type: 'image', dest: '', tar: false, names: ['localhost:5000/app:1'], push: true }],
    ['type=image,name=app:1', { type: 'image', dest: '', tar: false, names: ['app:1'], push: false }],
    ['type=image,"name=a:1,b:2",push=true,registry.insecure=true', { type: 'image', dest: '', tar: false, names: ['a:1', 'b:2'], push: true, insecure: true }],
  ])('%s', (spec, expected) => {
    expect(parseOutputSpec(spec)).toEqual(expected);
  });

  it.each([
    ['type=registry,name=x,push=false', /always pushes/],
    ['type=image,name=x,tar=true', /takes no dest= or tar=/],
    ['type=oci,dest=o,push=true', /belong to type=registry and type=image/],
    ['type=image,name=x,push=maybe', /push must be true or false/],
  ])('rejects %s', (spec, reason) => {
    expect(() => parseOutputSpec(spec)).toThrow(reason);
  });

  it('writeImageOutput leaves registry outputs to build()', async () => {
    const image = (await buildText('FROM scratch\nENV A=1\n')).image;
    await expect(writeImageOutput(image, 'type=registry,name=localhost:5000/x:1')).rejects.toMatchObject({ code: 'INVALID_OUTPUT_SPEC' });
  });
});

const enabled = hasRegistry();
const describeRegistry = describe.runIf(enabled);

describeRegistry('builds with a registry', () => {
  let registry: TestRegistry;
  let client: RegistryClient;
  let baseDigest: string;

  beforeAll(async () => {
    registry = await startRegistry();
    client = new RegistryClient();
    // The base: built by layerkit, pushed by the registry client.
    const seeded = await buildText('FROM scratch\nCOPY etc/ /etc/\nCOPY app/ /app/\nENV BASE=1\n', {
      'etc/os-release': 'ID=test\n',
      'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n',
      'etc/group': 'root:x:0:\napp:x:1000:\n',
      'app/base.txt': 'from the base\n',
    }, { tags: 'seed/base:1' });
    baseDigest = (await push(seeded.store, 'seed/base:1', `${registry.host}/base:1`)).digest;
  }, 60_000);

  afterAll(async () => {
    await registry?.stop();
  });

  it('FROM an image missing from the store pulls it; the store then has it (layers shared), and the next build uses it', async () => {
    const store = await freshStore();
    const events: BuildEvent[] = [];
    const first = await buildText(`FROM ${registry.host}/base:1\nCOPY hello.txt /app/\n`, { 'hello.txt': 'hi\n' }, { store, onEvent: (e) => events.push(e) });
    expect(events.some((e) => e.type === 'base-resolve' && e.source === 'registry' && e.digest === baseDigest)).toBe(true);
    const files = await rootfs(first.image);
    for (const path of ['/app/base.txt', '/app/hello.txt', '/etc/passwd']) expect(files.has(path), path).toBe(true);
    expect(first.stored).toBe(true);
    // The base is in the store under its reference, with its RepoDigest.
    const inspect = await store.inspect(`${registry.host}/base:1`);
    expect(inspect.RepoDigests).toEqual([`${registry.host}/base@${baseDigest}`]);
    const again: BuildEvent[] = [];
    await buildText(`FROM ${registry.host}/base:1\nCOPY hello.txt /app/\n`, { 'hello.txt': 'hi\n' }, { store, onEvent: (e) => again.push(e) });
    expect(again.some((e) => e.type === 'base-resolve' || e.type === 'base-download')).toBe(false);
  }, 60_000);

  it('pull re-resolves the base after the tag moved; without it the store\'s copy is used', async () => {
    const store = await freshStore();
    const dockerfile = `FROM ${registry.host}/moving:1\nCOPY x.txt /\n`;
    const v1 = await buildText('FROM scratch\nCOPY a.txt /v.txt\n', { 'a.txt': 'one\n' }, { tags: 'moving:1' });
    await push(v1.store, 'moving:1', `${registry.host}/moving:1`);
    const before = await buildText(dockerfile, { 'x.txt': 'x' }, { store });
    const v2 = await buildText('FROM scratch\nCOPY a.txt /v.txt\n', { 'a.txt': 'two\n' }, { tags: 'moving:1' });
    await push(v2.store, 'moving:1', `${registry.host}/moving:1`);
    const stale = await buildText(dockerfile, { 'x.txt': 'x' }, { store });
    expect(stale.digest).toBe(before.digest);
    const pulled = await buildText(dockerfile, { 'x.txt': 'x' }, { store, pull: true });
    expect(pulled.digest).not.toBe(before.digest);
    expect(await (await pulled.image.layers())[0]!.digest()).toBe(await (await v2.image.layers())[0]!.digest());
    // The store's tag followed the registry's, as docker build --pull leaves it.
    expect((await store.inspect(`${registry.host}/moving:1`)).Id).toBe(v2.imageId);
  }, 60_000);

  it('COPY --from=<registry image> and a docker-image:// named context resolve through the registry', async () => {
    const fromImage = await buildText(`FROM scratch\nCOPY --from=${registry.host}/base:1 /app/base.txt /copied.txt\n`);
    expect((await rootfs(fromImage.image)).has('/copied.txt')).toBe(true);
    const named = await buildText('FROM base\nCOPY --from=base /etc/os-release /os\n', {}, { buildContexts: { base: `docker-image://${registry.host}/base:1` } });
    const tree = await rootfs(named.image);
    expect(tree.has('/os') && tree.has('/app/base.txt')).toBe(true);
  }, 60_000);

  it('a base the registry does not have is BASE_IMAGE_NOT_FOUND at the FROM line', async () => {
    const err = await buildText(`FROM scratch\nFROM ${registry.host}/nosuch:1\n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).code).toBe('BASE_IMAGE_NOT_FOUND');
    expect((err as BuildError).data).toMatchObject({ line: 2, reference: `${registry.host}/nosuch:1` });
    expect((err as BuildError).message).toContain('neither in the local store nor in its registry');
  }, 30_000);

  it('push, -o type=registry and -o type=image,push=true push the result; RepoDigests recorded; a second client agrees', async () => {
    const dockerfile = `FROM ${registry.host}/base:1\nCOPY hello.txt /app/\nCMD ["/app/hello.txt"]\n`;
    const files = { 'hello.txt': 'pushed\n' };
    const spellings: Array<[string, Parameters<typeof build>[0]]> = [
      ['push', { tags: `${registry.host}/out:push`, push: true }],
      ['type=registry', { output: `type=registry,name=${registry.host}/out:registry` }],
      ['type=image,push=true', { output: `type=image,name=${registry.host}/out:image,push=true` }],
    ];
    const digests = new Set<string>();
    for (const [label, options] of spellings) {
      const store = await freshStore();
      const result = await buildText(dockerfile, files, { ...options, store, load: true });
      expect(result.pushed, label).toHaveLength(1);
      const pushed = result.pushed[0]!;
      expect(pushed.digest, label).toBe(result.digest);
      const remote = await client.getManifest(pushed.reference);
      expect(remote.digest, label).toBe(result.digest);
      const inspect = await store.inspect(result.imageId);
      const name = pushed.reference.slice(0, pushed.reference.lastIndexOf(':'));
      expect(inspect.RepoDigests, label).toContain(`${name}@${result.digest}`);
      digests.add(result.digest);
    }
    // One build, three spellings: one image.
    expect(digests.size).toBe(1);
    const image = await client.getImage(`${registry.host}/out:image`);
    expect((await image.config()).config?.Cmd).toEqual(['/app/hello.txt']);
  }, 90_000);

  it('a failed push is PUSH_FAILED and leaves the store as it was; a push to another registry reads the base blobs', async () => {
    const store = await freshStore();
    const dead = `127.0.0.1:1/app:1`;
    const err = await buildText(`FROM ${registry.host}/base:1\nCOPY hello.txt /\n`, { 'hello.txt': 'x' }, { store, tags: dead, push: true, registry: { retries: 0, timeoutMs: 5000 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).code).toBe('PUSH_FAILED');
    expect((err as BuildError).message).toContain(dead);
    expect(await store.list()).toEqual([]);

    // Another registry has none of the base's blobs: they are streamed through, not stored.
    const other = await startRegistry();
    try {
      const events: BuildEvent[] = [];
      const result = await buildText(`FROM ${registry.host}/base:1\nENV X=1\n`, {}, { store: await freshStore(), output: `type=registry,name=${other.host}/copy:1`, onEvent: (e) => events.push(e) });
      const downloads = events.flatMap((e) => (e.type === 'base-download' ? [e.reason] : []));
      expect(downloads.length).toBeGreaterThan(0);
      expect(new Set(downloads)).toEqual(new Set(['push']));
      expect((await client.getManifest(`${other.host}/copy:1`)).digest).toBe(result.digest);
      expect(result.stored).toBe(false);
    } finally {
      await other.stop();
    }
  }, 60_000);

  it('credentials from the registry option reach FROM and push; without them the base is not found and the message says to log in', async () => {
    const creds = { username: 'builder', password: 'secret-word' };
    const locked = await startRegistry({ htpasswd: { [creds.username]: creds.password } });
    try {
      const registryOption = { auth: { [locked.host]: creds }, dockerConfig: await tempDir() };
      await buildText('FROM scratch\nCOPY a.txt /\n', { 'a.txt': 'locked\n' }, { output: `type=registry,name=${locked.host}/private/base:1`, registry: registryOption });
      const built = await buildText(`FROM ${locked.host}/private/base:1\nCOPY b.txt /\n`, { 'b.txt': 'b\n' }, { registry: registryOption, tags: `${locked.host}/private/app:1`, push: true });
      expect(built.pushed[0]!.digest).toBe(built.digest);
      const anonymous = await buildText(`FROM ${locked.host}/private/base:1\n`, {}, { registry: { dockerConfig: await tempDir() } }).catch((e: unknown) => e);
      expect(anonymous).toBeInstanceOf(BuildError);
      expect((anonymous as BuildError).code).toBe('BASE_IMAGE_NOT_FOUND');
      expect((anonymous as BuildError).data.reason).toBe('UNAUTHORIZED');
      expect((anonymous as BuildError).message).toContain('login');
    } finally {
      await locked.stop();
    }
  }, 60_000);

  it('push without a name, and an output spec of an unknown type, fail before any work', async () => {
    const events: BuildEvent[] = [];
    const noName = await buildText('FROM scratch\nCOPY a /\n', { a: 'a' }, { push: true, onEvent: (e) => events.push(e) }).catch((e: unknown) => e);
    expect(noName).toMatchObject({ code: 'INVALID_OPTION' });
    expect(events).toEqual([]);
    const noOutputName = await buildText('FROM scratch\nCOPY a /\n', { a: 'a' }, { output: 'type=image,push=true', onEvent: (e) => events.push(e) }).catch((e: unknown) => e);
    expect(noOutputName).toMatchObject({ code: 'INVALID_OPTION' });
    expect(events).toEqual([]);
    const bad = await buildText('FROM scratch\n', {}, { output: 'type=registry' }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'INVALID_OPTION' });
  });

  it('RUN for a foreign platform is refused (FOREIGN_PLATFORM_RUN), never a mislabelled image', async () => {
    const foreign = hostPlatform().architecture === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    const context = await writeContext({});
    const executor = { run: async () => ({ layer: null }) };
    const err = await build({ context, store: await freshStore(), dockerfileText: 'FROM scratch\nRUN true\n', platform: foreign, executor }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect((err as BuildError).code).toBe('FOREIGN_PLATFORM_RUN');
    expect((err as BuildError).message).toContain(foreign);
    expect((err as BuildError).message).toContain('emulation is not supported');
    expect((err as BuildError).data.line).toBe(2);
    // A stage FROM --platform=$BUILDPLATFORM runs on the host.
    const ok = await build({ context, store: await freshStore(), dockerfileText: 'FROM --platform=$BUILDPLATFORM scratch\nRUN true\n', platform: foreign, executor });
    expect(ok.steps).toHaveLength(1);
    // A base that exists only for the host's platform is not used for a foreign build.
    const mismatch = await build({ context, store: await freshStore(), dockerfileText: `FROM ${registry.host}/base:1\nCOPY --from=${registry.host}/base:1 /app /app\n`, platform: foreign }).catch((e: unknown) => e);
    expect(mismatch).toMatchObject({ code: 'BASE_PLATFORM_MISMATCH' });
    expect((mismatch as BuildError).message).toContain(hostPlatform().architecture);
  }, 30_000);
});
