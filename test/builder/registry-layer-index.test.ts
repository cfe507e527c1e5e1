// The law lazy bases rest on: a COPY resolved over a layer's saved index (the
// entry list without contents, as published beside a pushed image) writes
// exactly what it writes over the layer itself — same entries, same errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeIndex, encodeIndex } from '../../src/builder/cache/layer-index.js';
import { copyItem, heredocItem, prepareDestination, type CopyAttrs } from '../../src/builder/copy/copy.js';
import { CopyTarget } from '../../src/builder/copy/target.js';
import type { Entry } from '../../src/layers/entry.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { treeArbitrary } from '../../src/testing/layers.js';
import type { LayerIndex } from '../../src/unionfs/layer-index.js';
import { indexLayer } from '../../src/unionfs/layer-source.js';
import { LowerStack } from '../../src/unionfs/lower-stack.js';

/** Property runs; LAYERKIT_PROPERTY_RUNS raises them for longer runs. */
const runs = (n: number) => ({ numRuns: Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0) || n });

/** What a COPY of one small file to `dest` writes over `index`, or the error it fails with. */
async function copyOver(index: LayerIndex, dest: string, attrs: CopyAttrs): Promise<unknown> {
  const target = new CopyTarget(LowerStack.empty().withLayer(index));
  try {
    const resolved = prepareDestination(target, dest, attrs);
    await copyItem(target, heredocItem('new.txt', 'hello\n', attrs.createdMtime), resolved, attrs);
  } catch (err) {
    return { error: (err as { code?: string }).code ?? String(err) };
  }
  return target.entries().map(comparable);
}

function comparable(e: Entry): Record<string, unknown> {
  const { content, ...rest } = e;
  void content;
  return { ...rest, xattrs: e.xattrs ? Object.fromEntries(Object.entries(e.xattrs).map(([k, v]) => [k, Buffer.from(v).toString('hex')])) : undefined };
}

describe('saved layer indexes', () => {
  it('a COPY over the saved index writes what it writes over the layer (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        treeArbitrary({ maxEntries: 10 }),
        fc.nat(),
        fc.constantFrom('', '/', '/sub/', '/new.txt'),
        fc.record({ uid: fc.constantFrom(0, 1000), mtime: fc.constantFrom(0, 1700000000) }),
        async (entries, pick, suffix, who) => {
          const layer = layerFromEntries(entries);
          const digest = await layer.digest();
          // A second Layer over the same entries: its index is read from its tar, not remembered.
          const full = await indexLayer(layerFromEntries(entries));
          const saved = decodeIndex(encodeIndex(digest, full), digest, () => layer, 0);
          expect(saved).toBeDefined();
          const paths = entries.map((e) => e.path);
          const base = paths.length === 0 ? '/app' : paths[pick % paths.length]!;
          const dest = suffix === '' ? base : `${base}${suffix}`.replace(/\/+/g, '/');
          const attrs: CopyAttrs = { createdMtime: who.mtime, ...(who.uid === 0 ? {} : { owner: { uid: who.uid, gid: who.uid } }) };
          expect(await copyOver(saved!, dest, attrs)).toEqual(await copyOver(full, dest, attrs));
        },
      ),
      runs(150),
    );
  });

  it('encode and decode keep every entry\'s metadata, and refuse another layer\'s digest or damaged bytes', async () => {
    await fc.assert(
      fc.asyncProperty(treeArbitrary({ maxEntries: 12 }), async (entries) => {
        const layer = layerFromEntries(entries);
        const digest = await layer.digest();
        const full = await indexLayer(layerFromEntries(entries));
        const bytes = encodeIndex(digest, full);
        const saved = decodeIndex(bytes, digest, () => layer, 0)!;
        const strip = (i: LayerIndex) => [...i.entries.values()].map(comparable).sort((a, b) => (String(a.path) < String(b.path) ? -1 : 1));
        expect(strip(saved)).toEqual(strip(full));
        expect(saved.whiteouts).toEqual(full.whiteouts);
        expect(decodeIndex(bytes, `sha256:${"0".repeat(64)}` as typeof digest, () => layer, 0)).toBeUndefined();
        expect(decodeIndex(bytes.subarray(0, bytes.byteLength - 1), digest, () => layer, 0)).toBeUndefined();
      }),
      runs(100),
    );
  });

  it('file contents of a decoded index are read from the layer only when asked', async () => {
    const entries: Entry[] = [
      { path: '/etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
      { path: '/etc/passwd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 5, content: { size: 5, async *open() { yield new TextEncoder().encode('root\n'); } } },
    ];
    const layer = layerFromEntries(entries);
    const digest = await layer.digest();
    let reads = 0;
    const counting = { ...layer, mediaType: layer.mediaType, diffId: () => layer.diffId(), digest: () => layer.digest(), size: () => layer.size(), compressed: () => layer.compressed(), uncompressed: () => (reads++, layer.uncompressed()) };
    const saved = decodeIndex(encodeIndex(digest, await indexLayer(layerFromEntries(entries))), digest, () => counting, 0)!;
    expect(saved.entries.get('/etc/passwd')?.size).toBe(5);
    expect(reads).toBe(0);
    const chunks: Uint8Array[] = [];
    for await (const c of saved.entries.get('/etc/passwd')!.content!.open()) chunks.push(c);
    expect(Buffer.concat(chunks).toString()).toBe('root\n');
    expect(reads).toBe(1);
  });
});
