/**
 * The cache's parts on their own: keys, specs, record decoding, the record
 * and blob store with leases, checksums of stage selections.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BuildCache } from '../../src/builder/cache/cache.js';
import { CacheError } from '../../src/builder/cache/errors.js';
import { baseKey, instructionIdentity, keyOf, stepKeys, type KeySettings } from '../../src/builder/cache/key.js';
import { decodeRecord, encodeRecord, type CacheRecord } from '../../src/builder/cache/records.js';
import { checksumItems } from '../../src/builder/cache/selection.js';
import { parseCacheFrom, parseCacheTo } from '../../src/builder/cache/spec.js';
import { rootfsSourceFs } from '../../src/builder/copy/sources.js';
import { parseInstructions } from '../../src/dockerfile/instructions/parse.js';
import type { Instruction } from '../../src/dockerfile/instructions/types.js';
import { parseDockerfile } from '../../src/dockerfile/syntax/parser.js';
import { sha256, type Digest } from '../../src/digest.js';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { LayerIndex } from '../../src/unionfs/layer-index.js';
import { LowerStack } from '../../src/unionfs/lower-stack.js';
import { freshStore } from './helpers.js';

function instructions(text: string): Instruction[] {
  const ast = parseDockerfile(text);
  return parseInstructions(ast, { source: text }).stages.flatMap((s) => s.instructions);
}

const settings: KeySettings = { epoch: 0, compression: null };
const parent = keyOf(['base', 'test']);

describe('keys', () => {
  it('a key does not depend on member order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (object) => {
        const reversed = Object.fromEntries(Object.entries(object).reverse());
        expect(keyOf([reversed])).toBe(keyOf([object]));
      }),
    );
  });

  it('refuses a part JSON cannot hold instead of encoding it as something else', () => {
    for (const part of [new Map([['a', 1]]), new Set([1]), 1n, new Uint8Array([1]), () => 1, Number.NaN]) {
      expect(() => keyOf([part]), String(part)).toThrow(TypeError);
    }
    expect(() => keyOf([{ nested: [new Map()] }])).toThrow(/Map cannot be encoded/);
    expect(keyOf([Object.create(null) as object])).toBe(keyOf([{}]));
  });

  it('an instruction keeps its key wherever it stands and however its keyword is spelled', () => {
    const [a] = instructions('FROM scratch\n\n# comment\ncopy a.txt /a\n');
    const [b] = instructions('FROM scratch\nCOPY a.txt /a\n');
    expect(instructionIdentity(a!)).toEqual(instructionIdentity(b!));
    const key = (i: Instruction) => stepKeys({ parent, instruction: i, vars: [], platform: 'linux/amd64', settings, inputs: [] }).key;
    expect(key(a!)).toBe(key(b!));
  });

  it('every input changes an ordinary key; an independent key ignores the parent and the variables', () => {
    const [copy, other] = instructions('FROM scratch\nCOPY --link a /a\nCOPY --link a /b\n');
    const input = { parent, instruction: copy!, vars: ['A=1'], platform: 'linux/amd64', settings, inputs: ['sum'] };
    const { key } = stepKeys(input);
    const variants = [
      { parent: keyOf(['base', 'other']) },
      { instruction: other! },
      { vars: ['A=2'] },
      { platform: 'linux/arm64' },
      { settings: { ...settings, epoch: 1 } },
      { inputs: ['other sum'] },
    ];
    for (const v of variants) expect(stepKeys({ ...input, ...v }).key).not.toBe(key);
    const linked = stepKeys({ ...input, independent: true });
    expect(stepKeys({ ...input, independent: true, parent: keyOf(['base', 'other']), vars: [] }).key).toBe(linked.key);
    // …but the state after it still depends on the parent.
    expect(stepKeys({ ...input, independent: true, parent: keyOf(['base', 'other']) }).chain).not.toBe(linked.chain);
  });

  it('base keys tell scratch, images, stages and platforms apart', () => {
    const keys = [
      baseKey({ kind: 'scratch' }, 'linux/amd64'),
      baseKey({ kind: 'scratch' }, 'linux/arm64'),
      baseKey({ kind: 'image', digest: sha256('a') }, 'linux/amd64'),
      baseKey({ kind: 'image', digest: sha256('b') }, 'linux/amd64'),
      baseKey({ kind: 'stage', key: parent }, 'linux/amd64'),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('specs', () => {
  it('reads buildx spellings', () => {
    expect(parseCacheTo('type=local,dest=/c,mode=max,tag=main')).toEqual({ type: 'local', dest: '/c', mode: 'max', tag: 'main', ignoreError: false });
    expect(parseCacheTo('dest=/c,compression=zstd')).toEqual({ type: 'local', dest: '/c', mode: 'min', tag: 'latest', ignoreError: false });
    expect(parseCacheFrom('type=local,src=/c,ignore-error=true')).toEqual({ type: 'local', src: '/c', tag: 'latest', ignoreError: true });
    expect(parseCacheFrom(`type=local,src=/c,digest=${sha256('m')}`).digest).toBe(sha256('m'));
  });

  it.each(['type=gha', 'type=local,src=/c', 'type=local,dest=/c,mode=all', 'type=local,dest=/c,tag=../x', 'type=local,dest=/c,dest=/d', 'garbage'])('rejects cacheTo %s', (spec) => {
    const err = (() => {
      try {
        parseCacheTo(spec);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(CacheError);
    expect((err as CacheError).code).toBe('CACHE_INVALID_SPEC');
  });
});

describe('records', () => {
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256('blob'), size: 4, diffId: sha256('tar') };

  it('round-trip through their encoding', () => {
    const key = sha256('k');
    for (const record of [{ kind: 'step', createdBy: 'COPY a /a # buildkit', layer }, { kind: 'step', createdBy: null, layer: null }, { kind: 'content', checksum: sha256('c') }] as CacheRecord[]) {
      expect(decodeRecord(JSON.parse(encodeRecord(key, record)), key)).toEqual({ key, record });
    }
  });

  it('anything else decodes to nothing, never throws', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(decodeRecord(value)).toBeUndefined();
      }),
    );
    const key = sha256('k');
    const good = JSON.parse(encodeRecord(key, { kind: 'step', createdBy: 'x', layer })) as Record<string, unknown>;
    for (const bad of [{ ...good, v: 2 }, { ...good, layer: { ...layer, size: -1 } }, { ...good, layer: { ...layer, digest: 'sha256:zz' } }, { ...good, createdBy: 3 }]) {
      expect(decodeRecord(bad, key)).toBeUndefined();
    }
    expect(decodeRecord(good, sha256('another key'))).toBeUndefined();
  });
});

describe('BuildCache', () => {
  const entries = (text: string): Entry[] => [{ path: '/f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: text.length, content: bytesSource(new TextEncoder().encode(text)) }];

  async function stepRecord(text: string) {
    const layer = layerFromEntries(entries(text));
    const [digest, size, diffId] = await Promise.all([layer.digest(), layer.size(), layer.diffId()]);
    const record: CacheRecord = { kind: 'step', createdBy: `COPY ${text}`, layer: { mediaType: layer.mediaType, digest, size, diffId } };
    return { layer, record };
  }

  it('stores, finds and serves verified layers; survives a new object on the same directory', async () => {
    const store = await freshStore();
    const { layer, record } = await stepRecord('hello');
    const key = keyOf(['t', 1]);
    await new BuildCache(store).put(key, record, layer);
    const again = new BuildCache(store.root);
    expect(await again.get(key)).toEqual(record);
    expect(await again.get(keyOf(['t', 2]))).toBeUndefined();
    const served = again.layer((record as Extract<CacheRecord, { kind: 'step' }>).layer!);
    expect(await served.diffId()).toBe(await layer.diffId());
    const chunks: Uint8Array[] = [];
    for await (const c of served.compressed()) chunks.push(c);
    expect(sha256(Buffer.concat(chunks))).toBe(await layer.digest());
    await again.close();
  });

  it('prune keeps blobs a running build holds a lease on, and their records', async () => {
    const store = await freshStore();
    const held = await stepRecord('held');
    const free = await stepRecord('free');
    const writer = new BuildCache(store);
    await writer.put(keyOf(['held']), held.record, held.layer);
    await writer.close();
    const other = new BuildCache(store);
    await other.put(keyOf(['free']), free.record, free.layer);
    await other.close();
    const running = new BuildCache(store);
    expect(await running.get(keyOf(['held']))).toEqual(held.record);
    const result = await new BuildCache(store).prune({ keepStorage: 0 });
    expect(result.removedRecords).toBe(1);
    const checker = new BuildCache(store);
    expect(await checker.get(keyOf(['held']))).toEqual(held.record);
    expect(await checker.get(keyOf(['free']))).toBeUndefined();
    await checker.close();
    await running.close();
    await new BuildCache(store).prune({ keepStorage: 0 });
    expect(await readdir(join(store.root, 'cache', 'blobs', 'sha256'))).toEqual([]);
  });
});

describe('stage selection checksums', () => {
  const stackOf = (list: Entry[]) => LowerStack.empty().withLayer(LayerIndex.fromEntries(list));
  const file = (path: string, text: string, extra: Partial<Entry> = {}): Entry => ({
    path,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 1,
    size: text.length,
    content: bytesSource(new TextEncoder().encode(text)),
    ...extra,
  });
  const dir: Entry = { path: '/out', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0 };
  const sum = async (list: Entry[], sources = ['/out']) => checksumItems(await rootfsSourceFs(stackOf(list), 'stage').select(sources));

  it('covers content, modes, owners and names, not times or what lies outside the selection', async () => {
    const reference = await sum([dir, file('/out/a', 'A'), file('/elsewhere', '1')]);
    expect(await sum([{ ...dir, mtime: 99 }, file('/out/a', 'A', { mtime: 5 }), file('/elsewhere', '2')])).toBe(reference);
    const changed: Digest[] = [
      await sum([dir, file('/out/a', 'B')]),
      await sum([dir, file('/out/a', 'A', { mode: 0o755 })]),
      await sum([dir, file('/out/a', 'A', { uid: 1 })]),
      await sum([dir, file('/out/b', 'A')]),
      await sum([{ ...dir, mode: 0o700 }, file('/out/a', 'A')]),
    ];
    for (const c of changed) expect(c).not.toBe(reference);
  });
});
