import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LayerSpool } from '../../src/builder/spool.js';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import type { Layer } from '../../src/layers/layer.js';
import { layerArbitrary } from '../../src/testing/layers.js';
import type { LayerIndex } from '../../src/unionfs/layer-index.js';
import { indexLayer } from '../../src/unionfs/layer-source.js';
import { buildText, tempDir } from './helpers.js';

/** An index as comparable data: entries with their bytes, whiteouts, opaque dirs. */
async function summary(index: LayerIndex): Promise<unknown> {
  const entries: unknown[] = [];
  for (const entry of index.entries.values()) {
    let text: string | undefined;
    if (entry.content) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of entry.content.open()) chunks.push(chunk);
      text = Buffer.concat(chunks).toString('hex');
    }
    const xattrs = entry.xattrs ? Object.fromEntries(Object.entries(entry.xattrs).map(([k, v]) => [k, Buffer.from(v).toString('hex')])) : undefined;
    entries.push({ ...entry, content: text, xattrs });
  }
  return { entries, whiteouts: [...index.whiteouts], opaque: [...index.opaqueDirs] };
}

/** A fresh object over the same blob: indexing it reads the staged bytes back. */
function readBack(layer: Layer): Layer {
  return { mediaType: layer.mediaType, diffId: () => layer.diffId(), digest: () => layer.digest(), size: () => layer.size(), compressed: () => layer.compressed(), uncompressed: () => layer.uncompressed() };
}

describe('LayerSpool.stageIndexed', () => {
  const spools: LayerSpool[] = [];
  afterAll(async () => {
    for (const spool of spools) await spool.dispose();
  });
  const spool = async () => {
    const s = await LayerSpool.create(await tempDir('lk-spool-'));
    spools.push(s);
    return s;
  };

  it('property: the index made while writing equals the staged blob read back, and the blob is the one stage() writes', async () => {
    const dir = await tempDir('lk-spool-index-');
    try {
      await fc.assert(
        fc.asyncProperty(layerArbitrary({ maxEntries: 10 }), fc.constantFrom<'gzip' | 'none'>('gzip', 'none'), async (generated, compression) => {
          const layer = compression === 'gzip' ? generated : layerFromEntries(await entriesOf(generated), { compression });
          const s = await spool();
          const { layer: staged, index } = await s.stageIndexed(layer, { memoryBudget: 64, spoolDir: dir });
          const plain = await s.stage(layer);
          expect(await staged.digest()).toBe(await plain.digest());
          expect(await staged.diffId()).toBe(await layer.diffId());
          expect(index).toBeDefined();
          expect(await summary(index!)).toEqual(await summary(await indexLayer(readBack(staged))));
        }),
        { numRuns: 40 },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a blob that is no tar still stages; it just has no index', async () => {
    const s = await spool();
    const bytes = new TextEncoder().encode('not a tar at all, '.repeat(100));
    const layer = layerFromEntries([]);
    const broken: Layer = { ...readBack(layer), mediaType: 'application/vnd.oci.image.layer.v1.tar', async *compressed() { yield bytes; }, digest: async () => `sha256:${createHash('sha256').update(bytes).digest('hex')}` as never, size: async () => bytes.byteLength };
    const { layer: staged, index } = await s.stageIndexed(broken, {});
    expect(index).toBeUndefined();
    const chunks: Uint8Array[] = [];
    for await (const chunk of staged.compressed()) chunks.push(chunk);
    expect(Buffer.concat(chunks).equals(Buffer.from(bytes))).toBe(true);
  });

  it('a layer whose blob is not what its digest or size says is refused, and leaves no staged file', async () => {
    const s = await spool();
    const x = layerFromEntries([{ path: '/a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 1, content: bytesSource(Uint8Array.of(0x61)) }]);
    const y = layerFromEntries([{ path: '/a', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 1, content: bytesSource(Uint8Array.of(0x62)) }]);
    expect(await x.size()).toBe(await y.size());
    const liar: Layer = { ...readBack(x), compressed: () => y.compressed() };
    await expect(s.stage(liar)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', data: { what: 'staged layer blob', expected: await x.digest(), actual: await y.digest() } });
    const wrongSize: Layer = { ...readBack(x), size: async () => (await x.size()) + 1 };
    await expect(s.stageIndexed(wrongSize, {})).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', data: { what: 'staged layer blob size' } });
    expect(await readdir(s.dir)).toEqual([]);
  });

  it('a failing blob leaves no staged file and no stuck index reader', async () => {
    const s = await spool();
    const layer = layerFromEntries([]);
    const failing: Layer = { ...readBack(layer), async *compressed() { yield new Uint8Array(10); throw new Error('disk gone'); } };
    await expect(s.stageIndexed(failing, {})).rejects.toThrow('disk gone');
  });
});

async function entriesOf(layer: Layer): Promise<Entry[]> {
  const index = await indexLayer(readBack(layer));
  return [...index.entries.values()];
}

describe('staged blobs delivered by file', () => {
  it('the store links the staged blob and the OCI layout gets its own copy; both hash to their names and the staging directory goes', async () => {
    const layoutDir = await tempDir('lk-staged-layout-');
    try {
      const random = Buffer.alloc(300_000);
      for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
      const { store, image } = await buildText('FROM scratch\nCOPY . /app\nCOPY a.txt /again.txt\n', { 'a.txt': 'hello\n'.repeat(5000), 'b.bin': { content: random } }, {
        output: `type=oci,dest=${layoutDir},tar=false`,
      });
      const manifest = await image.manifest();
      expect(manifest.layers).toHaveLength(2);
      for (const layer of manifest.layers) {
        const hex = layer.digest.slice('sha256:'.length);
        const inLayout = join(layoutDir, 'blobs', 'sha256', hex);
        const inStore = join(store.root, 'blobs', 'sha256', hex);
        for (const file of [inLayout, inStore]) {
          const bytes = await readFile(file);
          expect(bytes.byteLength).toBe(layer.size);
          expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(layer.digest);
          expect((await stat(file)).mode & 0o777).toBe(0o644);
        }
        // The store and the cache share the staged file's inode (linked, not rewritten); the layout is the user's to change, so a copy.
        const inCache = join(store.root, 'cache', 'blobs', 'sha256', hex);
        expect((await stat(inStore)).ino).toBe((await stat(inCache)).ino);
        expect((await stat(inLayout)).ino).not.toBe((await stat(inStore)).ino);
      }
      expect((await readdir(join(store.root, 'tmp'))).filter((name) => name.startsWith('build-'))).toEqual([]);
    } finally {
      await rm(layoutDir, { recursive: true, force: true });
    }
  });
});
