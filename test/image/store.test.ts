import { spawn } from 'node:child_process';
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { digestHex } from '../../src/digest.js';
import { DigestMismatchError } from '../../src/errors.js';
import {
  AmbiguousReferenceError,
  appendHistory,
  appendLayers,
  defaultStoreRoot,
  emptyImage,
  ImageConflictError,
  ImageNotFoundError,
  ImageStore,
  InvalidReferenceError,
  readOciLayout,
  StoreLockedError,
  withConfig,
  withCreated,
  type Image,
} from '../../src/image/index.js';
import type { Layer } from '../../src/layers/layer.js';
import { validateImage } from '../../src/testing/image.js';
import { brokenLayer, layerOf, tempDir } from './helpers.js';

const amd64 = { os: 'linux', architecture: 'amd64' };

function sample(name: string, created = '2024-01-01T00:00:00Z'): Image {
  const withLayers = appendLayers(
    emptyImage(amd64),
    { layer: layerOf({ '/base': 'shared' }), history: { created_by: 'ADD base /' } },
    { layer: layerOf({ [`/${name}`]: name }), history: { created_by: `COPY ${name} /` } },
  );
  return withCreated(withConfig(appendHistory(withLayers, { created_by: `CMD ["${name}"]` }), { config: { Cmd: [name] } }), created);
}

/** Every file under a directory with its bytes, to compare whole-store states. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(dir: string): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      if ((await stat(path)).isDirectory()) await walk(path);
      else out[relative(root, path)] = (await readFile(path)).toString('base64');
    }
  }
  await walk(root);
  return out;
}

async function drain(layer: Layer): Promise<void> {
  for await (const _ of layer.uncompressed()) void _;
}

describe('ImageStore', () => {
  it('stores and finds images by tag (normalized), digest and ID (full or prefix)', async () => {
    const store = new ImageStore(await tempDir());
    const image = sample('a');
    const result = await store.putImage(image, ['busybox', 'me/app:1']);
    expect(result).toEqual({ digest: await image.digest(), id: await image.configDigest(), tags: ['docker.io/library/busybox:latest', 'docker.io/me/app:1'] });
    const id = await image.configDigest();
    const digest = await image.digest();
    for (const ref of ['busybox', 'busybox:latest', 'docker.io/library/busybox:latest', 'index.docker.io/library/busybox', 'me/app:1', `busybox@${digest}`, digest, digestHex(digest), id, digestHex(id), digestHex(id).slice(0, 12), `sha256:${digestHex(id).slice(0, 12)}`]) {
      const found = await store.getImage(ref);
      expect(await found.digest(), ref).toBe(digest);
    }
    const back = await store.getImage('me/app:1');
    expect(await back.configDigest()).toBe(id);
    expect((await validateImage(back)).problems).toEqual([]);
    await expect(store.getImage('me/app:2')).rejects.toBeInstanceOf(ImageNotFoundError);
    await expect(store.getImage('Me/App')).rejects.toBeInstanceOf(InvalidReferenceError);
    await expect(store.getImage('ffffffffffff')).rejects.toBeInstanceOf(ImageNotFoundError);
  });

  it('is itself an OCI layout that other readers can open', async () => {
    const root = await tempDir();
    const store = new ImageStore(root);
    const image = sample('a');
    await store.putImage(image, 'me/app:1');
    const viaLayout = await readOciLayout(root, 'docker.io/me/app:1');
    expect(await viaLayout.digest()).toBe(await image.digest());
  });

  it('refuses an ambiguous ID prefix', async () => {
    const store = new ImageStore(await tempDir());
    const ids: string[] = [];
    // Two images whose IDs share their first four hex digits (the shortest prefix that is an ID).
    for (let i = 0; ; i++) {
      const image = withConfig(emptyImage(amd64), { config: { Cmd: [`${i}`] } });
      const hex = digestHex(await image.configDigest());
      const twin = ids.find((h) => h.slice(0, 4) === hex.slice(0, 4));
      if (twin) {
        await store.putImage(image, `img:${i}`);
        await store.putImage(withConfig(emptyImage(amd64), { config: { Cmd: [`${ids.indexOf(twin)}`] } }), 'img:twin');
        const err = await store.getImage(hex.slice(0, 4)).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(AmbiguousReferenceError);
        expect((err as AmbiguousReferenceError).data.candidates).toHaveLength(2);
        // Shorter than four digits is a name, not an ID prefix.
        expect(await store.getImage(hex.slice(0, 3)).catch((e: unknown) => e)).toBeInstanceOf(ImageNotFoundError);
        break;
      }
      ids.push(hex);
    }
  });

  it('lists newest first, inspects and shows history like the Docker CLI', async () => {
    const store = new ImageStore(await tempDir());
    const older = sample('old', '2020-01-01T00:00:00Z');
    const newer = sample('new', '2024-01-01T00:00:00Z');
    await store.putImage(older, 'app:old');
    await store.putImage(newer, ['app:new', 'other/app']);
    const list = await store.list();
    expect(list.map((l) => l.tags)).toEqual([['app:new', 'other/app:latest'], ['app:old']]);
    expect(list[0]!.id).toBe(await newer.configDigest());
    const manifest = await newer.manifest();
    // Docker's SIZE: the uncompressed layers.
    const unpacked: number[] = [];
    for (const layer of await newer.layers()) {
      let n = 0;
      for await (const chunk of layer.uncompressed()) n += chunk.length;
      unpacked.push(n);
    }
    expect(list[0]!.size).toBe(unpacked[0]! + unpacked[1]!);

    const inspect = await store.inspect('app:new');
    expect(inspect.Id).toBe(await newer.configDigest());
    expect(inspect.RepoTags).toEqual(['app:new', 'other/app:latest']);
    expect(inspect.RepoDigests).toEqual([`app@${await newer.digest()}`, `other/app@${await newer.digest()}`]);
    expect(inspect.Created).toBe('2024-01-01T00:00:00Z');
    expect(inspect.Architecture).toBe('amd64');
    expect(inspect.Os).toBe('linux');
    expect(inspect.Config).toEqual({ Cmd: ['new'] });
    expect(inspect.RootFS).toEqual({ Type: 'layers', Layers: (await newer.config()).rootfs.diff_ids });

    const history = await store.history('app:new');
    expect(history.map((h) => [h.createdBy, h.emptyLayer])).toEqual([
      ['CMD ["new"]', true],
      ['COPY new /', false],
      ['ADD base /', false],
    ]);
    expect(history[0]!.size).toBe(0);
    expect(history[1]!.size).toBe(unpacked[1]);
    expect(history[2]!.layer).toEqual({ digest: manifest.layers[0]!.digest, diffId: (await newer.config()).rootfs.diff_ids[0] });
  });

  it('moves tags, keeps untagged images until removed, and removes like docker rmi', async () => {
    const store = new ImageStore(await tempDir());
    const a = sample('a');
    const b = sample('b');
    await store.putImage(a, ['app', 'app:1']);
    await store.putImage(b, 'app'); // app:latest moves to b
    expect((await store.inspect('app')).Id).toBe(await b.configDigest());
    expect((await store.inspect('app:1')).Id).toBe(await a.configDigest());
    await store.tag('app:1', 'registry.example.com/app:1');
    expect((await store.inspect('registry.example.com/app:1')).Id).toBe(await a.configDigest());

    await store.untag('app:1');
    await expect(store.getImage('app:1')).rejects.toBeInstanceOf(ImageNotFoundError);
    await expect(store.untag('app:1')).rejects.toBeInstanceOf(ImageNotFoundError);
    await store.untag('registry.example.com/app:1');
    const aId = await a.configDigest();
    expect((await store.list()).find((l) => l.id === aId)?.tags).toEqual([]);
    expect(await (await store.getImage(digestHex(await a.configDigest()))).digest()).toBe(await a.digest());

    // By tag while other tags remain: only the tag goes.
    await store.tag('app', 'app:2');
    expect(await store.remove('app:2')).toEqual({ untagged: ['docker.io/library/app:2'], deleted: [] });
    // By ID with several tags: refused unless forced.
    await store.tag('app', 'app:3');
    const id = digestHex(await b.configDigest()).slice(0, 12);
    await expect(store.remove(id)).rejects.toBeInstanceOf(ImageConflictError);
    expect(await store.remove(id, { force: true })).toEqual({ untagged: ['docker.io/library/app:3', 'docker.io/library/app:latest'], deleted: [await b.digest()] });
    await expect(store.getImage('app')).rejects.toBeInstanceOf(ImageNotFoundError);
    // By its last tag: the image goes.
    await store.tag(digestHex(await a.configDigest()), 'last:1');
    expect(await store.remove('last:1')).toEqual({ untagged: ['docker.io/library/last:1'], deleted: [await a.digest()] });
    expect(await store.list()).toEqual([]);
  });

  it('gc deletes exactly the blobs no image references, and dangling images on request', async () => {
    const root = await tempDir();
    const store = new ImageStore(root);
    const a = sample('a');
    const b = sample('b');
    await store.putImage(a, 'a');
    await store.putImage(b, 'b');
    expect((await store.gc()).removedBlobs).toEqual([]);
    await store.remove('b');
    const result = await store.gc();
    const bManifest = await b.manifest();
    // b's own layer, config and manifest go; the base layer shared with a stays.
    expect(result.removedBlobs.sort()).toEqual([bManifest.layers[1]!.digest, bManifest.config.digest, await b.digest()].sort());
    expect(result.freedBytes).toBe(bManifest.layers[1]!.size + bManifest.config.size + (await b.rawManifest()).byteLength);
    expect((await validateImage(await store.getImage('a'))).problems).toEqual([]);

    await store.putImage(b, 'b');
    await store.untag('b');
    expect((await store.gc()).removedImages).toEqual([]);
    const dangling = await store.gc({ dangling: true });
    expect(dangling.removedImages).toEqual([await b.digest()]);
    expect(dangling.removedBlobs).toHaveLength(3);
  });

  it('putImage is idempotent and tags are checked before anything is written', async () => {
    const root = join(await tempDir(), 'store');
    const store = new ImageStore(root);
    await expect(store.putImage(sample('a'), ['ok', 'not/OK'])).rejects.toBeInstanceOf(InvalidReferenceError);
    await expect(store.putImage(sample('a'), `a@sha256:${'0'.repeat(64)}`)).rejects.toBeInstanceOf(InvalidReferenceError);
    await expect(stat(root)).rejects.toMatchObject({ code: 'ENOENT' });
    await store.putImage(sample('a'), 'a');
    const before = await snapshot(root);
    const indexBefore = await stat(join(root, 'index.json'), { bigint: true });
    await store.putImage(sample('a'), 'a');
    expect(await snapshot(root)).toEqual(before);
    // Not rewritten either: the same file, untouched.
    const indexAfter = await stat(join(root, 'index.json'), { bigint: true });
    expect([indexAfter.ino, indexAfter.mtimeNs]).toEqual([indexBefore.ino, indexBefore.mtimeNs]);
  });

  it('a failure in the middle of putImage leaves the store exactly as it was', async () => {
    const root = await tempDir();
    const store = new ImageStore(root);
    await store.putImage(sample('a'), 'a');
    const before = await snapshot(root);
    const good = layerOf({ '/new': 'a brand new layer' });
    const failing = brokenLayer(good, 'connection reset');
    // A new layer written first (its blob is created), then the failing one.
    const image = appendLayers(sample('a'), layerOf({ '/another': 'fresh blob' }), failing);
    await expect(store.putImage(image, ['a', 'b'])).rejects.toThrow('connection reset');
    expect(await snapshot(root)).toEqual(before);
    // A layer whose bytes do not match its digest is refused the same way.
    const lying: Layer = { mediaType: good.mediaType, diffId: () => good.diffId(), digest: () => good.digest(), size: () => good.size(), uncompressed: () => good.uncompressed(), compressed: () => layerOf({ '/x': 'y' }).compressed() };
    await expect(store.putImage(appendLayers(sample('a'), lying), 'c')).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await snapshot(root)).toEqual(before);
  });

  it('verifies reads: corrupt config or manifest fails at getImage, a corrupt layer when streamed', async () => {
    const root = await tempDir();
    const store = new ImageStore(root);
    const image = sample('a');
    await store.putImage(image, 'a');
    const manifest = await image.manifest();
    const layerPath = join(root, 'blobs/sha256', digestHex(manifest.layers[1]!.digest as never));
    const bytes = await readFile(layerPath);
    await writeFile(layerPath, bytes.subarray(0, bytes.length - 3)); // truncated
    const layers = await (await store.getImage('a')).layers();
    await drain(layers[0]!);
    const err = await drain(layers[1]!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as DigestMismatchError).code).toBe('DIGEST_MISMATCH');

    const configPath = join(root, 'blobs/sha256', digestHex(await image.configDigest()));
    const config = await readFile(configPath);
    config[config.length - 2] = config[config.length - 2]! ^ 1;
    await writeFile(configPath, config);
    await expect(store.getImage('a')).rejects.toBeInstanceOf(DigestMismatchError);
  });

  it('recovers a lock left by a dead process, waits for a live one, and expires an old foreign one', async () => {
    const root = await tempDir();
    const store = new ImageStore(root, { timeoutMs: 300, staleMs: 60_000 });
    await store.putImage(sample('a'), 'a');
    const dead = spawn(process.execPath, ['-e', '']);
    const deadPid = await new Promise<number>((res) => dead.on('exit', () => res(dead.pid!)));
    await writeFile(join(root, 'lock'), JSON.stringify({ pid: deadPid, hostname: hostname(), token: 'x' }));
    await store.tag('a', 'b');
    expect(await stat(join(root, 'lock')).catch(() => undefined)).toBeUndefined();

    await writeFile(join(root, 'lock'), JSON.stringify({ pid: process.pid, hostname: hostname(), token: 'held' }));
    const err = await store.tag('a', 'c').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreLockedError);
    expect((err as StoreLockedError).data.holder).toEqual({ pid: process.pid, hostname: hostname() });

    await writeFile(join(root, 'lock'), JSON.stringify({ pid: 1, hostname: 'elsewhere', token: 'y' }));
    const old = new Date(Date.now() - 120_000);
    await utimes(join(root, 'lock'), old, old);
    await store.tag('a', 'c');
    expect((await store.inspect('c')).RepoTags).toEqual(['a:latest', 'b:latest', 'c:latest']);
  });

  it('gc removes temporary files of dead writers but not of live ones', async () => {
    const root = await tempDir();
    const store = new ImageStore(root);
    await store.putImage(sample('a'), 'a');
    const dead = spawn(process.execPath, ['-e', '']);
    const deadPid = await new Promise<number>((res) => dead.on('exit', () => res(dead.pid!)));
    const live = (await readdir(join(root, 'tmp')).catch(() => [])).length;
    expect(live).toBe(0);
    // Names as the writer makes them: .<hint>-<pid>-<host tag>-<random>.
    const { temporaryPath } = await import('../../src/image/fs-atomic.js');
    const mine = temporaryPath(join(root, 'tmp'));
    const theirs = mine.replace(`-${process.pid}-`, `-${deadPid}-`);
    await writeFile(mine, 'in progress');
    await writeFile(theirs, 'abandoned');
    expect((await store.gc()).removedTemporaryFiles).toBe(1);
    expect(await readdir(join(root, 'tmp'))).toEqual([mine.split('/').pop()]);
  });

  describe('default root', () => {
    const names = ['LAYERKIT_HOME', 'XDG_DATA_HOME', 'HOME'] as const;
    const saved = names.map((name) => process.env[name]);
    afterEach(() => {
      names.forEach((name, i) => {
        if (saved[i] === undefined) delete process.env[name];
        else process.env[name] = saved[i];
      });
    });
    it('is $LAYERKIT_HOME, else the per-user $XDG_DATA_HOME/layerkit, else ~/.local/share/layerkit', async () => {
      process.env.LAYERKIT_HOME = '/tmp/somewhere';
      process.env.XDG_DATA_HOME = '/srv/data';
      expect(new ImageStore().root).toBe('/tmp/somewhere');
      process.env.LAYERKIT_HOME = 'rel/store';
      expect(defaultStoreRoot()).toBe(resolve('rel/store'));
      delete process.env.LAYERKIT_HOME;
      expect(defaultStoreRoot()).toBe('/srv/data/layerkit');
      process.env.HOME = '/home/someone';
      delete process.env.XDG_DATA_HOME;
      expect(defaultStoreRoot()).toBe('/home/someone/.local/share/layerkit');
      // The XDG spec says a relative XDG_DATA_HOME is invalid and is ignored.
      process.env.XDG_DATA_HOME = 'relative/data';
      expect(defaultStoreRoot()).toBe('/home/someone/.local/share/layerkit');
      // Not the working directory: the same store from anywhere.
      expect(defaultStoreRoot()).not.toContain(process.cwd() + '/');
    });
  });
});
