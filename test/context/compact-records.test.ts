/**
 * The compact per-file records of the build context: listed nodes' stats,
 * the stat index's records and its file, and context file sources that
 * report their reads. Each must say exactly what the bigint stat fields,
 * the whole-index JSON and a separate hashing pass said.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { lstatSync, type BigIntStats } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeFileSource, observedFileSource, type ReadObserver } from '../../src/context/content.js';
import { fullDigest, packDigest } from '../../src/context/packed-digest.js';
import { RootIndex } from '../../src/context/stat-cache.js';
import { ContextTree, entryType, NodeStats } from '../../src/context/tree.js';
import type { Digest } from '../../src/digest.js';

const runs = (n: number) => ({ numRuns: Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0) || n });

const made: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lk-records-'));
  made.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

type StatFields = Pick<BigIntStats, 'dev' | 'ino' | 'mode' | 'nlink' | 'uid' | 'gid' | 'rdev' | 'size' | 'mtimeNs' | 'ctimeNs'>;

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const small = fc.bigInt({ min: 0n, max: 2n ** 32n - 1n });
/** Nanosecond times around and far from now, before 1970 too. */
const ns = fc.oneof(fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }), fc.bigInt({ min: 1_600_000_000_000_000_000n, max: 1_900_000_000_000_000_000n }));
const statFields: fc.Arbitrary<StatFields> = fc.record({
  dev: fc.oneof(small, u64),
  ino: fc.oneof(small, u64),
  mode: fc.bigInt({ min: 0n, max: 0o177777n }),
  nlink: fc.bigInt({ min: 1n, max: 2n ** 32n }),
  uid: small,
  gid: small,
  rdev: fc.oneof(small, u64),
  size: fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
  mtimeNs: ns,
  ctimeNs: ns,
}) as fc.Arbitrary<StatFields>;

describe('NodeStats', () => {
  it('gives back every field it was made from, bigints and all (property)', () => {
    fc.assert(
      fc.property(statFields, (s) => {
        const n = new NodeStats(s);
        expect([n.dev, n.ino, n.mode, n.nlink, n.uid, n.gid, n.rdev, n.size, n.mtimeNs, n.ctimeNs]).toEqual([
          s.dev, s.ino, s.mode, s.nlink, s.uid, s.gid, s.rdev, s.size, s.mtimeNs, s.ctimeNs,
        ]);
        // Whole seconds rounded down, as a tar header holds them.
        const floor = s.mtimeNs / 1_000_000_000n - (s.mtimeNs % 1_000_000_000n < 0n ? 1n : 0n);
        expect(n.mtimeSeconds).toBe(Number(floor));
        expect(n.linked).toBe(s.nlink > 1n);
        expect([n.permissions, n.uidNumber, n.gidNumber, n.sizeNumber]).toEqual([Number(s.mode & 0o7777n), Number(s.uid), Number(s.gid), Number(s.size)]);
        expect(n.inodeKey).toBe(`${s.dev}:${s.ino}`);
      }),
      runs(300),
    );
  });

  it('keys the stat index with the text of its bigint fields, and types a file as entryType does (property)', () => {
    fc.assert(
      fc.property(statFields, (s) => {
        const n = new NodeStats(s);
        expect(n.statKey()).toBe([s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs, s.mode].join(':'));
        expect(n.entryType).toBe(entryType(n));
      }),
      runs(300),
    );
  });

  it('tells another inode or size from an fstat result in numbers or bigints alike (property)', () => {
    const safe = (v: bigint) => v <= BigInt(Number.MAX_SAFE_INTEGER);
    fc.assert(
      fc.property(statFields, fc.constantFrom('dev', 'ino', 'size', 'none'), (s, field) => {
        const n = new NodeStats(s);
        expect(n.numericIdentity).toBe(safe(s.dev) && safe(s.ino) && safe(s.size));
        const now = { dev: s.dev, ino: s.ino, size: s.size };
        if (field !== 'none') now[field] += 1n;
        const expected = field === 'none' ? undefined : field === 'size' ? 'size' : 'inode';
        expect(n.changeIn(now)).toBe(expected);
        // As a number fstat gives them, which is only asked for when the listed values are safe integers.
        if (n.numericIdentity && [now.dev, now.ino, now.size].every(safe)) {
          expect(n.changeIn({ dev: Number(now.dev), ino: Number(now.ino), size: Number(now.size) })).toBe(expected);
        }
      }),
      runs(300),
    );
  });

  it('answers the file-type questions as lstat does', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'f'), 'x');
    for (const path of [dir, join(dir, 'f'), '/dev/null']) {
      const s = lstatSync(path, { bigint: true });
      const n = new NodeStats(s);
      expect([n.isFile(), n.isDirectory(), n.isSymbolicLink(), n.isCharacterDevice(), n.isBlockDevice(), n.isFIFO(), n.isSocket()]).toEqual([
        s.isFile(), s.isDirectory(), s.isSymbolicLink(), s.isCharacterDevice(), s.isBlockDevice(), s.isFIFO(), s.isSocket(),
      ]);
    }
  });

  it('listed nodes are their own stats and derive rel from path', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'a.txt'), 'hello');
    const tree = new ContextTree(dir);
    const [node] = await tree.list(await tree.root());
    expect(node!.path).toBe('/a.txt');
    expect(node!.rel).toBe('a.txt');
    expect(node!.stats.size).toBe(5n);
    expect(node!.stats.ino).toBe(lstatSync(join(dir, 'a.txt'), { bigint: true }).ino);
  });
});

const relName = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', '123', '0', 'a/b', 'ü/"q"\\x', 'd/e/f'),
  fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes('\0')),
);
const digestArb = fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `sha256:${Buffer.from(b).toString('hex')}`), { nil: undefined });
const xattrsArb = fc.option(fc.dictionary(fc.constantFrom('user.a', 'user.b', 'security.capability'), fc.uint8Array({ maxLength: 6 })), { nil: undefined });

describe('packed digests', () => {
  it('a SHA-256 digest packs into 32 characters and back to itself; anything else is kept as it is (property)', () => {
    const sha256Digest = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `sha256:${Buffer.from(b).toString('hex')}` as Digest);
    const other = fc.oneof(
      fc.uint8Array({ minLength: 64, maxLength: 64 }).map((b) => `sha512:${Buffer.from(b).toString('hex')}`),
      sha256Digest.map((d) => d.toUpperCase().replace('SHA256', 'sha256')),
      sha256Digest.map((d) => d.slice(0, -1)),
    ) as fc.Arbitrary<Digest>;
    fc.assert(
      fc.property(sha256Digest, other, (d, o) => {
        const packed = packDigest(d);
        expect(packed).toHaveLength(32);
        expect(fullDigest(packed)).toBe(d);
        expect(packDigest(packed)).toBe(packed);
        if (o !== o.toLowerCase() || !o.startsWith('sha256:') || o.length !== 71) {
          expect(packDigest(o)).toBe(o);
          expect(fullDigest(o)).toBe(o);
        }
      }),
      runs(300),
    );
  });
});

describe('RootIndex', () => {
  it('by context path and by relative path alike; prune forgets what is below a directory and not kept', async () => {
    const index = await RootIndex.load(join(await tempDir(), 'index.json'), '/ctx');
    const stats = lstatSync(tmpdir(), { bigint: true });
    const digest = `sha256:${'ab'.repeat(32)}` as Digest;
    for (const rel of ['a/b', 'a/c', 'a-b', 'x']) index.store(rel, stats, 2n ** 63n, digest, undefined);
    index.storePath('/a/d', stats, 2n ** 63n, packDigest(digest), undefined);
    expect(fullDigest(index.lookupPath('/a/b', stats)!.digest!)).toBe(digest);
    expect(index.lookup('a/d', stats)!.digest).toBe(digest);
    expect([index.hasBelow('/a'), index.hasBelow('/a/b'), index.hasBelow('/a/b/c'), index.hasBelow('/x'), index.hasBelow('/y'), index.hasBelow('/')]).toEqual([true, true, false, true, false, true]);
    index.prune('/a', (path) => path === '/a/b');
    expect(['a/b', 'a/c', 'a/d', 'a-b', 'x'].map((rel) => index.lookup(rel, stats) !== undefined)).toEqual([true, false, false, true, true]);
    index.prune('/', new Set(['/x']));
    expect(index.size).toBe(1);
    index.prune('/', () => false);
    expect(index.hasBelow('/')).toBe(false);
  });

  it('saves in pieces what loads back whole: every record, fresh or listed stats (property)', async () => {
    const dir = await tempDir();
    let round = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ rel: relName, stats: statFields, digest: digestArb, xattrs: xattrsArb, listed: fc.boolean() }), { selector: (r) => r.rel, maxLength: 40 }),
        async (records) => {
          const file = join(dir, `index-${round++}.json`);
          const index = await RootIndex.load(file, '/ctx');
          for (const r of records) {
            const stats = r.listed ? new NodeStats(r.stats) : r.stats;
            // A fence past every ctime: all records are kept.
            index.store(r.rel, stats, 2n ** 63n, r.digest as never, r.xattrs);
          }
          await index.save();
          // Nothing stored: nothing to write.
          if (records.length === 0) {
            await expect(readFile(file)).rejects.toMatchObject({ code: 'ENOENT' });
            return;
          }
          const text = await readFile(file, 'utf8');
          const json = JSON.parse(text) as { version: number; root: string; entries: Record<string, unknown[]> };
          expect(json.version).toBe(1);
          expect(json.root).toBe('/ctx');
          expect(Object.keys(json.entries).sort()).toEqual(records.map((r) => r.rel).sort());
          const loaded = await RootIndex.load(file, '/ctx');
          expect(loaded.size).toBe(records.length);
          for (const r of records) {
            const hit = loaded.lookup(r.rel, r.stats);
            expect(hit).toBeDefined();
            expect(hit!.digest).toBe(r.digest);
            expect(hit!.xattrs === undefined ? undefined : Object.fromEntries(Object.entries(hit!.xattrs).map(([k, v]) => [k, [...v]]))).toEqual(
              r.xattrs === undefined ? undefined : Object.fromEntries(Object.entries(r.xattrs).map(([k, v]) => [k, [...v]])),
            );
            expect([hit!.dev, hit!.ino, hit!.size, hit!.mtimeNs, hit!.ctimeNs, hit!.mode]).toEqual([r.stats.dev, r.stats.ino, r.stats.size, r.stats.mtimeNs, r.stats.ctimeNs, r.stats.mode]);
            // Any one field changed is a miss.
            expect(loaded.lookup(r.rel, { ...r.stats, ctimeNs: r.stats.ctimeNs + 1n })).toBeUndefined();
            expect(loaded.lookup(r.rel, { ...r.stats, ino: r.stats.ino + 1n })).toBeUndefined();
          }
        },
      ),
      runs(60),
    );
  });

  it('writes an index of many records as the whole-object JSON would read', async () => {
    const dir = await tempDir();
    const file = join(dir, 'big.json');
    const index = await RootIndex.load(file, '/big');
    const base = lstatSync(dir, { bigint: true });
    for (let i = 0; i < 10_000; i++) index.store(`d${i % 10}/f${i}`, { ...base, ino: BigInt(i), size: BigInt(i) }, 2n ** 63n, `sha256:${i.toString(16).padStart(64, '0')}` as never, {});
    await index.save();
    const json = JSON.parse(await readFile(file, 'utf8')) as { entries: Record<string, unknown[]> };
    expect(Object.keys(json.entries)).toHaveLength(10_000);
    expect(json.entries['d7/f9997']).toEqual([`${base.dev}`, '9997', '9997', `${base.mtimeNs}`, `${base.ctimeNs}`, `${base.mode}`, `sha256:${(9997).toString(16).padStart(64, '0')}`, {}]);
  });
});

describe('RootIndex files', () => {
  it('keeps records with xattrs larger than its write buffer whole and in order', async () => {
    const dir = await tempDir();
    const file = join(dir, 'large.json');
    const index = await RootIndex.load(file, '/large');
    const base = lstatSync(dir, { bigint: true });
    const big = (i: number) => new Uint8Array(150_000 + i).fill(i);
    for (let i = 0; i < 3000; i++) {
      const xattrs: Record<string, Uint8Array> = i % 1000 === 7 ? { 'user.big': big(i % 251), 'user.small': new Uint8Array([i & 0xff]) } : {};
      index.store(`f${i}`, { ...base, ino: BigInt(i) }, 2n ** 63n, undefined, xattrs);
    }
    await index.save();
    const text = await readFile(file, 'utf8');
    const json = JSON.parse(text) as { entries: Record<string, unknown[]> };
    expect(Object.keys(json.entries)).toEqual(Array.from({ length: 3000 }, (_, i) => `f${i}`));
    expect(json.entries['f2007']![7]).toEqual({ 'user.big': Buffer.from(big(2007 % 251)).toString('hex'), 'user.small': 'd7' });
    const loaded = await RootIndex.load(file, '/large');
    expect(loaded.lookup('f1007', { ...base, ino: 1007n })!.xattrs!['user.big']).toEqual(big(1007 % 251));
  });
});

describe('context file sources', () => {
  async function listed(content: Uint8Array) {
    const dir = await tempDir();
    await writeFile(join(dir, 'f'), content);
    const tree = new ContextTree(dir);
    const [node] = await tree.list(await tree.root());
    return { tree, node: node! };
  }

  function recorder(): ReadObserver & { reads: Array<[string, string]> } {
    const reads: Array<[string, string]> = [];
    return { reads, read: (path, digest) => reads.push([path, digest]) };
  }

  for (const [label, size] of [['small', 3000], ['large (read in chunks)', (1 << 20) + 70_000], ['empty', 0]] as const) {
    it(`a ${label} file read to its end reports the SHA-256 of what it yielded`, async () => {
      const bytes = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
      const { tree, node } = await listed(bytes);
      const observer = recorder();
      const source = nodeFileSource(tree.hostRoot, node);
      const observed = observedFileSource(source, observer)!;
      expect(observed.size).toBe(size);
      const chunks: Uint8Array[] = [];
      for await (const chunk of observed.open()) chunks.push(chunk);
      expect(Buffer.concat(chunks).equals(Buffer.from(bytes))).toBe(true);
      expect(observer.reads).toEqual([['/f', `sha256:${createHash('sha256').update(bytes).digest('hex')}`]]);
      // The unobserved source reports nothing.
      for await (const _ of source.open()) void _;
      expect(observer.reads).toHaveLength(1);
    });
  }

  it('a read abandoned before the end reports nothing', async () => {
    const { tree, node } = await listed(new Uint8Array((1 << 20) + 5000).fill(1));
    const observer = recorder();
    for await (const chunk of observedFileSource(nodeFileSource(tree.hostRoot, node), observer)!.open()) {
      expect(chunk.byteLength).toBeGreaterThan(0);
      break;
    }
    expect(observer.reads).toEqual([]);
  });

  it('a file that changed since it was listed fails the read and reports nothing', async () => {
    const { tree, node } = await listed(new Uint8Array(100).fill(2));
    await writeFile(join(tree.hostRoot, 'f'), new Uint8Array(101));
    const observer = recorder();
    const read = async () => {
      for await (const _ of observedFileSource(nodeFileSource(tree.hostRoot, node), observer)!.open()) void _;
    };
    await expect(read()).rejects.toMatchObject({ code: 'CONTEXT_CHANGED' });
    expect(observer.reads).toEqual([]);
  });
});
