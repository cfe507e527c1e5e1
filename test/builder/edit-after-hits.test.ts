/**
 * A step after cache hits: the layers below it are stacked from saved entry
 * lists, and the files it reads come from the layers' extractions on disk
 * (`src/sandbox/extracted-files.ts`), never by decompressing a layer; the
 * image it makes is the one a build without the cache makes.
 */
import { copyFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { digestHex } from '../../src/digest.js';
import { decodeIndex, encodeIndex } from '../../src/builder/cache/layer-index.js';
import { extractedLayer } from '../../src/sandbox/extracted.js';
import { extractedFiles } from '../../src/sandbox/extracted-files.js';
import { removeTree } from '../../src/sandbox/files.js';
import { sandboxExecutor } from '../../src/sandbox/index.js';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import type { Layer } from '../../src/layers/layer.js';
import { treeArbitrary } from '../../src/testing/layers.js';
import { indexLayer, rememberIndex } from '../../src/unionfs/layer-source.js';
import { ImageStore } from '../../src/image/store/store.js';
import { buildText, sandboxReady, tempDir, writeContext } from './helpers.js';

const text = (s: string) => new TextEncoder().encode(s);
const dir = (path: string): Entry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });
const file = (path: string, content: string, mode = 0o644): Entry => ({ path, type: 'file', mode, uid: 0, gid: 0, mtime: 0, size: text(content).byteLength, content: bytesSource(text(content)) });

async function collect(body: AsyncIterable<Uint8Array> | undefined): Promise<string | undefined> {
  if (!body) return undefined;
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

/** A layer whose uncompressed stream counts its reads. */
function counting(layer: Layer): { layer: Layer; reads: () => number } {
  let reads = 0;
  return {
    reads: () => reads,
    layer: {
      mediaType: layer.mediaType,
      diffId: () => layer.diffId(),
      digest: () => layer.digest(),
      size: () => layer.size(),
      compressed: () => layer.compressed(),
      uncompressed: () => (reads++, layer.uncompressed()),
    },
  };
}

describe('files of a layer from its extraction', () => {
  it('serves a regular file of the exact size, and nothing through a symlink, of another size, or without an extraction', async () => {
    const store = await tempDir('layerkit-extracted-files-');
    try {
      const layer = layerFromEntries([
        dir('/etc'),
        file('/etc/passwd', 'root:x:0:0::/root:/bin/sh\n'),
        { path: '/etc/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: 'passwd' },
        { path: '/up', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: '/etc' },
      ]);
      const diffId = await layer.diffId();
      const read = extractedFiles(store, diffId);
      // Not extracted yet: the caller reads the layer.
      expect(await read('/etc/passwd', 26)).toBeUndefined();
      await extractedLayer(layer, store);
      const fresh = extractedFiles(store, diffId);
      expect(await collect(await fresh('/etc/passwd', 26))).toBe('root:x:0:0::/root:/bin/sh\n');
      expect(await fresh('/etc/passwd', 25)).toBeUndefined();
      expect(await fresh('/etc/link', 26)).toBeUndefined();
      expect(await fresh('/up/passwd', 26)).toBeUndefined();
      expect(await fresh('/etc', 0)).toBeUndefined();
      expect(await fresh('/etc/missing', 3)).toBeUndefined();
      expect(await fresh('/../etc/passwd', 26)).toBeUndefined();
      // The extraction is leased by this process while it reads it.
      const leases = await readdir(join(store, 'layers-extracted', '.leases'));
      expect(leases.length).toBeGreaterThan(0);
    } finally {
      await rm(store, { recursive: true, force: true });
    }
  });

  it('a host symlink planted on the way is not followed', async () => {
    const store = await tempDir('layerkit-extracted-files-');
    const outside = await tempDir('layerkit-extracted-outside-');
    try {
      const layer = layerFromEntries([dir('/a'), dir('/a/b'), file('/a/b/f', 'inside')]);
      const extracted = await extractedLayer(layer, store);
      await writeFile(join(outside, 'f'), 'OUTSIDE');
      await rm(join(extracted.root, 'a', 'b'), { recursive: true });
      await symlink(outside, join(extracted.root, 'a', 'b'));
      expect(await extractedFiles(store, await layer.diffId())('/a/b/f', 7)).toBeUndefined();
    } finally {
      await rm(store, { recursive: true, force: true });
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('every file of an extracted layer reads back as the layer has it (property)', async () => {
    await fc.assert(
      fc.asyncProperty(treeArbitrary({ specialFiles: false, xattrs: false, maxEntries: 10 }), async (entries) => {
        const store = await tempDir('layerkit-extracted-files-');
        try {
          const layer = layerFromEntries(entries);
          await extractedLayer(layer, store);
          const read = extractedFiles(store, await layer.diffId());
          const index = await indexLayer(layer);
          for (const entry of index.entries.values()) {
            if (entry.type !== 'file') continue;
            const body = await read(entry.path, entry.size);
            // Served or declined; never other bytes.
            if (body) expect(await collect(body)).toBe(await collect(entry.content?.open() ?? (async function* () {})()));
          }
        } finally {
          // Generated directories may deny their owner (mode 0); as non-root they are opened up to be removed.
          await removeTree(store);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('a saved index reads a file from the extraction without reading the layer; without one, from the layer', async () => {
    const store = await tempDir('layerkit-extracted-files-');
    try {
      const entries = [dir('/etc'), file('/etc/passwd', 'root\n'), file('/etc/group', 'root:x:0:\n')];
      const layer = layerFromEntries(entries);
      const digest = await layer.digest();
      const bytes = encodeIndex(digest, await indexLayer(layerFromEntries(entries)));
      const watched = counting(layer);
      const local = extractedFiles(store, await layer.diffId());
      const before = decodeIndex(bytes, digest, () => watched.layer, 0, local)!;
      expect(await collect(before.entries.get('/etc/passwd')!.content!.open())).toBe('root\n');
      expect(watched.reads()).toBe(1);

      await extractedLayer(layer, store);
      const again = counting(layer);
      const after = decodeIndex(bytes, digest, () => again.layer, 0, extractedFiles(store, await layer.diffId()))!;
      expect(await collect(after.entries.get('/etc/passwd')!.content!.open())).toBe('root\n');
      expect(await collect(after.entries.get('/etc/group')!.content!.open())).toBe('root:x:0:\n');
      expect(again.reads()).toBe(0);
    } finally {
      await rm(store, { recursive: true, force: true });
    }
  });
});

describe('a saved index remembered as its own layer\'s', () => {
  it('reads a file from the layer (without finding itself as the layer\'s index)', async () => {
    const entries = [dir('/etc'), file('/etc/passwd', 'root\n')];
    const layer = layerFromEntries(entries);
    const digest = await layer.digest();
    const saved = decodeIndex(encodeIndex(digest, await indexLayer(layerFromEntries(entries))), digest, () => layer, 0)!;
    // What a lazy registry base and a stored base get: the decoded index stands for the layer itself.
    rememberIndex(layer, saved);
    expect(await collect((await indexLayer(layer)).entries.get('/etc/passwd')!.content!.open())).toBe('root\n');
  });
});

describe('a build after cache hits', () => {
  let ready = false;
  beforeAll(async () => {
    ready = await sandboxReady('edit-after-hits tests');
  });

  it('saves the index of every layer a RUN stacked, and the rebuilt image equals the one built without the cache', async (t) => {
    if (!ready) return t.skip();
    const store = new ImageStore(await tempDir('layerkit-edit-store-'));
    const base = await writeContext({ 'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', 'etc/group': 'root:x:0:\napp:x:1000:\n' });
    await copyFile('/bin/busybox', join(base, 'busybox'));
    await buildText('FROM scratch\nCOPY busybox /bin/busybox\nCOPY etc /etc\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n', {}, { store, context: base, executor: sandboxExecutor(), tags: 'edit-base:1' });
    const dockerfile = [
      'FROM edit-base:1',
      'RUN mkdir -p /pkg /tmp && chmod 1777 /tmp && for i in 1 2 3; do echo "package $i" > /pkg/f$i; done',
      'COPY edit.txt /edit.txt',
      // Reads files of the base, of the cached layer and of the COPY; runs as a user named in the base's passwd.
      'USER app',
      'RUN cat /etc/passwd /pkg/f2 /edit.txt > /tmp/out && id >> /tmp/out',
    ].join('\n');
    const context = await writeContext({ 'edit.txt': 'one\n' });
    const executor = sandboxExecutor();
    try {
      const first = await buildText(dockerfile, {}, { store, context, executor });
      // Every layer of the image has a saved index now, the base's (stacked by the RUN) and the RUN's included.
      const saved = new Set(await readdir(join(store.root, 'cache', 'indexes')));
      for (const layer of await first.image.layers()) expect(saved.has(`${digestHex(await layer.digest())}.json`)).toBe(true);

      // A cache whose layers have no saved index (as written before RUN layers had them) gets them on the next rebuild.
      await rm(join(store.root, 'cache', 'indexes'), { recursive: true });
      await writeFile(join(context, 'edit.txt'), 'two\n');
      const edited = await buildText(dockerfile, {}, { store, context, executor });
      expect(edited.steps.map((s) => s.cached)).toEqual([true, false, false, false]);
      const resaved = new Set(await readdir(join(store.root, 'cache', 'indexes')));
      for (const layer of await edited.image.layers()) expect(resaved.has(`${digestHex(await layer.digest())}.json`)).toBe(true);
      const cold = await buildText(dockerfile, {}, { store, context, executor, noCache: true });
      expect(cold.cache.hits).toBe(0);
      expect(edited.digest).toBe(cold.digest);
    } finally {
      await executor.dispose();
      await rm(store.root, { recursive: true, force: true });
    }
  });
});
