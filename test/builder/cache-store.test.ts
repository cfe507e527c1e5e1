/**
 * The cache as stored data: export/import through an OCI layout, LRU
 * pruning to a size bound, concurrent builds on one cache, damage.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { BuildCache } from '../../src/builder/cache/cache.js';
import { CacheError } from '../../src/builder/cache/errors.js';
import { sha256 } from '../../src/digest.js';
import type { BuildOptions, BuildResult } from '../../src/builder/options.js';
import { ImageStore } from '../../src/image/store/store.js';
import { exec, freshStore, tempDir, writeContext } from './helpers.js';

const MULTI = [
  'FROM scratch AS builder',
  'COPY src/ /src/',
  'ENV MODE=release',
  'COPY big.bin /out/big.bin',
  'FROM scratch',
  'WORKDIR /app',
  'COPY --from=builder /out/ /app/',
  'COPY conf.txt /app/conf.txt',
  'LABEL built=yes',
].join('\n');

const base: BuildOptions = { dockerfileText: MULTI, sourceDateEpoch: 1700000000, xattrs: false };
const cached = (r: BuildResult) => r.steps.map((s) => s.cached);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function multiContext(): Promise<string> {
  return writeContext({ 'src/main.c': 'int main(){}', 'big.bin': randomBytes(64 * 1024).toString('base64'), 'conf.txt': 'conf' });
}

interface FileFacts {
  ino: number;
  size: number;
  mtimeMs: number;
  sha: string;
}

/** Every file under a store (leases and temporary files aside): inode, size, time, content digest. */
async function snapshot(root: string): Promise<Map<string, FileFacts>> {
  const out = new Map<string, FileFacts>();
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(join(root, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (/^(cache\/)?(tmp|leases|trash)$/.test(path) || path === 'lock') continue;
      if (entry.isDirectory()) await walk(path);
      else {
        const info = await stat(join(root, path));
        out.set(path, { ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, sha: sha256(await readFile(join(root, path))) });
      }
    }
  };
  await walk('');
  return out;
}

describe('export and import (type=local)', () => {
  it('mode=max round trip into an empty store gives the same hits and the same image', async () => {
    const context = await multiContext();
    const dir = join(await tempDir(), 'cache');
    const first = await build({ ...base, context, store: await freshStore(), cacheTo: `type=local,dest=${dir},mode=max` });
    expect(first.cache.exports).toHaveLength(1);
    const second = await build({ ...base, context, store: await freshStore(), cacheFrom: `type=local,src=${dir}` });
    expect(cached(second)).toEqual(first.steps.map(() => true));
    expect(second.digest).toBe(first.digest);
    // The layout is an OCI layout whose index names the cache manifest, and every blob is what its name says.
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
    expect(index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name'])).toEqual(['latest']);
    for (const hex of await readdir(join(dir, 'blobs', 'sha256'))) {
      expect(sha256(await readFile(join(dir, 'blobs', 'sha256', hex)))).toBe(`sha256:${hex}`);
    }
  });

  it('mode=min carries the final stage: the builder stage runs again, the final stage hits (content-based)', async () => {
    const context = await multiContext();
    const dir = join(await tempDir(), 'cache');
    await build({ ...base, context, store: await freshStore(), cacheTo: `type=local,dest=${dir}` });
    const second = await build({ ...base, context, store: await freshStore(), cacheFrom: { type: 'local', src: dir, tag: 'latest', ignoreError: false } });
    expect(second.steps.map((s) => [s.stage, s.cached])).toEqual([
      ['builder', false],
      ['builder', false],
      ['builder', false],
      ['stage-1', true],
      ['stage-1', true],
      ['stage-1', true],
      ['stage-1', true],
    ]);
  });

  it('exporting again under the same tag replaces the manifest and drops blobs nothing uses', async () => {
    const context = await multiContext();
    const dir = join(await tempDir(), 'cache');
    const store = await freshStore();
    await build({ ...base, context, store, cacheTo: `type=local,dest=${dir},mode=max` });
    const before = await readdir(join(dir, 'blobs', 'sha256'));
    await writeFile(join(context, 'big.bin'), 'small now');
    await build({ ...base, context, store, cacheTo: `type=local,dest=${dir},mode=max` });
    const after = await readdir(join(dir, 'blobs', 'sha256'));
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(index.manifests).toHaveLength(1);
    const manifestHex = index.manifests[0]!.digest.slice(7);
    const manifest = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', manifestHex), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const used = [manifestHex, manifest.config.digest.slice(7), ...manifest.layers.map((l) => l.digest.slice(7))].sort();
    expect(after.sort()).toEqual(used);
    expect(before.filter((hex) => !after.includes(hex)).length).toBeGreaterThan(0);
    const third = await build({ ...base, context, store: await freshStore(), cacheFrom: `type=local,src=${dir}` });
    expect(cached(third).every(Boolean)).toBe(true);
  });

  it('two builds exporting to one directory at once leave a layout whose every blob is there', async () => {
    const context = await multiContext();
    const dir = join(await tempDir(), 'cache');
    const other = MULTI.replace('LABEL built=yes', 'LABEL built=other');
    await Promise.all([
      build({ ...base, context, store: await freshStore(), cacheTo: `type=local,dest=${dir},mode=max` }),
      build({ ...base, dockerfileText: other, context, store: await freshStore(), cacheTo: `type=local,dest=${dir},mode=max` }),
    ]);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const manifest = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> };
    for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      expect(sha256(await readFile(join(dir, 'blobs', 'sha256', d.slice(7))))).toBe(d);
    }
    const imported = await build({ ...base, context, store: await freshStore(), cacheFrom: `type=local,src=${dir}` });
    expect(imported.cache.hits).toBeGreaterThan(0);
  });

  it('a directory that does not exist imports nothing; a broken one is CACHE_INVALID_LAYOUT unless ignore-error', async () => {
    const context = await multiContext();
    const missing = await build({ ...base, context, store: await freshStore(), cacheFrom: `type=local,src=${join(await tempDir(), 'nothing-yet')}` });
    expect(missing.cache.hits).toBe(0);
    const broken = await tempDir();
    await writeFile(join(broken, 'index.json'), '{ not json');
    const err = await build({ ...base, context, store: await freshStore(), cacheFrom: `type=local,src=${broken}` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CacheError);
    expect((err as CacheError).code).toBe('CACHE_INVALID_LAYOUT');
    const ignored = await build({ ...base, context, store: await freshStore(), cacheFrom: `type=local,src=${broken},ignore-error=true` });
    expect(ignored.cache.hits).toBe(0);
  });

  it('an imported blob that is not what its digest says is a miss, not a stale hit', async () => {
    const context = await multiContext();
    const dir = join(await tempDir(), 'cache');
    await build({ ...base, dockerfileText: 'FROM scratch\nCOPY big.bin /big.bin\n', context, store: await freshStore(), cacheTo: `type=local,dest=${dir}` });
    const manifestDigest = (JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> }).manifests[0]!.digest;
    const manifest = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', manifestDigest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> };
    const layerFile = join(dir, 'blobs', 'sha256', manifest.layers[0]!.digest.slice(7));
    const bytes = await readFile(layerFile);
    bytes[bytes.length - 1]! ^= 0xff;
    await writeFile(layerFile, bytes);
    const result = await build({ ...base, dockerfileText: 'FROM scratch\nCOPY big.bin /big.bin\n', context, store: await freshStore(), cacheFrom: `type=local,src=${dir}` });
    expect(cached(result)).toEqual([false]);
  });

  it('a failed export fails the build before the store is written, unless ignore-error', async () => {
    const context = await multiContext();
    const blocked = join(await tempDir(), 'a-file');
    await writeFile(blocked, 'not a directory');
    const store = await freshStore();
    const err = await build({ ...base, context, store, tags: ['app:1'], cacheTo: `type=local,dest=${blocked}` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(await store.list()).toEqual([]);
    const ignored = await build({ ...base, context, store, tags: ['app:1'], cacheTo: `type=local,dest=${blocked},ignore-error=true` });
    expect(ignored.cache.writeErrors).toHaveLength(1);
    expect((await store.list()).map((i) => i.digest)).toEqual([ignored.digest]);
  });

  it('bad specs fail before any work', async () => {
    const context = await multiContext();
    for (const spec of ['type=registry', 'type=inline', 'type=local', 'type=local,dest=x,mode=huge', 'type=local,dest=x,bogus=1']) {
      const err = await build({ ...base, context, store: await freshStore(), cacheTo: spec }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CacheError);
      expect((err as CacheError).code).toBe('CACHE_INVALID_SPEC');
    }
  });
});

describe('prune', () => {
  const one = (name: string) => `FROM scratch\nCOPY ${name} /${name}\n`;

  it('keeps the most recently used records within the bound, drops the least recently used', async () => {
    const store = await freshStore();
    const context = await writeContext({ x: randomBytes(40_000).toString('hex'), y: randomBytes(40_000).toString('hex'), z: randomBytes(40_000).toString('hex') });
    const run = (name: string) => build({ ...base, dockerfileText: one(name), context, store });
    for (const name of ['x', 'y', 'z']) {
      await run(name);
      await sleep(30);
    }
    expect(cached(await run('x'))).toEqual([true]); // x is now the most recently used, y the least
    const cache = new BuildCache(store);
    const before = await cache.usage();
    expect(before.records).toBe(3);
    const result = await cache.prune({ keepStorage: before.bytes - 1 });
    expect(result.removedRecords).toBe(1);
    expect(result.removedBlobs).toBe(1);
    expect(result.keptBytes).toBeLessThanOrEqual(before.bytes - 1);
    expect((await cache.usage()).bytes).toBe(result.keptBytes);
    expect(cached(await run('x'))).toEqual([true]);
    expect(cached(await run('z'))).toEqual([true]);
    expect(cached(await run('y'))).toEqual([false]);
  });

  it('keepStorage 0 empties the cache; the store keeps its images', async () => {
    const store = await freshStore();
    const context = await writeContext({ x: 'x' });
    const first = await build({ ...base, dockerfileText: one('x'), context, store, tags: ['x:1'] });
    const cache = new BuildCache(store.root);
    await cache.prune({ keepStorage: 0 });
    expect(await cache.usage()).toEqual({ records: 0, blobs: 0, bytes: 0 });
    expect(await (await store.getImage('x:1')).digest()).toBe(first.digest);
    expect(cached(await build({ ...base, dockerfileText: one('x'), context, store }))).toEqual([false]);
  });

  it('rejects a keepStorage that is not a byte count', async () => {
    const cache = new BuildCache(await freshStore());
    for (const keepStorage of [-1, 1.5, Number.NaN]) {
      const err = await cache.prune({ keepStorage }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CacheError);
      expect((err as CacheError).code).toBe('CACHE_INVALID_OPTION');
    }
  });
});

describe('sharing and damage', () => {
  it('two concurrent builds sharing one cache both succeed and agree; a third hits everything', async () => {
    const store = await freshStore();
    const context = await multiContext();
    const [a, b] = await Promise.all([build({ ...base, context, store }), build({ ...base, context, store: new ImageStore(store.root) })]);
    expect(a.digest).toBe(b.digest);
    const c = await build({ ...base, context, store });
    expect(cached(c).every(Boolean)).toBe(true);
    expect(c.digest).toBe(a.digest);
  });

  it('builds in two processes started together, one pruning the cache to nothing mid-way, share the store and agree', async () => {
    const store = await freshStore();
    const context = await multiContext();
    const dir = await tempDir();
    const other = MULTI.replace('LABEL built=yes', 'LABEL built=other');
    const script = join(dir, 'child-build.mts');
    const buildModule = pathToFileURL(join(process.cwd(), 'src/builder/build.ts')).href;
    const cacheModule = pathToFileURL(join(process.cwd(), 'src/builder/cache/cache.ts')).href;
    // Each child says it is ready, waits for the go file, then runs its plan: builds (digests out) and prunes.
    await writeFile(
      script,
      [
        `import { access, writeFile } from 'node:fs/promises';`,
        `import { build } from ${JSON.stringify(buildModule)};`,
        `import { BuildCache } from ${JSON.stringify(cacheModule)};`,
        `const [name, plan] = [process.argv[2], JSON.parse(process.argv[3])];`,
        `await writeFile(${JSON.stringify(dir)} + '/ready-' + name, '');`,
        `while (await access(${JSON.stringify(join(dir, 'go'))}).then(() => false, () => true)) await new Promise((r) => setTimeout(r, 5));`,
        `const out = [];`,
        `for (const step of plan) {`,
        `  if (step.prune !== undefined) { await new BuildCache(${JSON.stringify(store.root)}).prune({ keepStorage: step.prune }); continue; }`,
        `  const r = await build({ ...${JSON.stringify({ ...base, context, store: store.root })}, dockerfileText: step.build });`,
        `  out.push(r.digest);`,
        `}`,
        `process.stdout.write(JSON.stringify(out));`,
      ].join('\n'),
    );
    const child = (name: string, plan: unknown[]) => exec(process.execPath, ['--import', 'tsx', script, name, JSON.stringify(plan)], { cwd: process.cwd(), maxBuffer: 1 << 20 });
    const a = child('a', [{ build: MULTI }, { build: other }, { build: MULTI }]);
    const b = child('b', [{ build: other }, { prune: 0 }, { build: MULTI }, { build: other }]);
    while ((await readdir(dir)).filter((n) => n.startsWith('ready-')).length < 2) await sleep(20);
    await writeFile(join(dir, 'go'), '');
    const [outA, outB] = await Promise.all([a, b]);
    const [refMulti, refOther] = await Promise.all([
      build({ ...base, context, store: await freshStore(), noCache: true }),
      build({ ...base, dockerfileText: other, context, store: await freshStore(), noCache: true }),
    ]);
    expect(JSON.parse(outA.stdout)).toEqual([refMulti.digest, refOther.digest, refMulti.digest]);
    expect(JSON.parse(outB.stdout)).toEqual([refOther.digest, refMulti.digest, refOther.digest]);
    // Whatever the interleaving, the cache left behind answers only with verified, correct results.
    for (const dockerfileText of [MULTI, other]) {
      const again = await build({ ...base, dockerfileText, context, store });
      expect(again.digest).toBe(dockerfileText === MULTI ? refMulti.digest : refOther.digest);
    }
    expect(cached(await build({ ...base, context, store })).every(Boolean)).toBe(true);
    expect(await readdir(join(store.root, 'cache', 'leases'))).toEqual([]);
  }, 180_000);

  it('a no-change rebuild writes nothing: the store, blobs, records and stat index stay as they were (records get a new last use)', async () => {
    const store = await freshStore();
    const context = await multiContext();
    await sleep(30); // a clock tick, so every context file is recorded in the stat index
    await build({ ...base, context, store, tags: ['app:1'] });
    const before = await snapshot(store.root);
    await sleep(30);
    const again = await build({ ...base, context, store, tags: ['app:1'] });
    expect(cached(again).every(Boolean)).toBe(true);
    expect(again.cache.contextFilesRead).toBe(0);
    const after = await snapshot(store.root);
    const records = (m: Map<string, FileFacts>) => [...m.keys()].filter((p) => p.startsWith('cache/records/'));
    expect(records(after)).toEqual(records(before));
    expect(records(before).length).toBeGreaterThan(0);
    for (const path of new Set([...before.keys(), ...after.keys()])) {
      const [b, a] = [before.get(path), after.get(path)];
      if (path === 'index.json') {
        // The store's put renames a new index.json into place even when nothing in it changed: same bytes.
        expect({ path, sha: a?.sha }).toEqual({ path, sha: b?.sha });
      } else if (path.startsWith('cache/records/')) {
        // Same bytes, same inode; only the last-use time moves.
        expect({ path, ino: a?.ino, sha: a?.sha }).toEqual({ path, ino: b?.ino, sha: b?.sha });
        expect(a!.mtimeMs).toBeGreaterThan(b!.mtimeMs);
      } else {
        expect({ path, ...a }).toEqual({ path, ...b });
      }
    }
  });

  it('a rebuild after editing a file of the last COPY reads no cached layer: the layers below are stacked from their saved indexes', async () => {
    const store = await freshStore();
    const dockerfile = 'FROM scratch\nCOPY src/ /app/src/\nCOPY big.bin /app/big.bin\nWORKDIR /app\nCOPY conf.txt conf.txt\n';
    const context = await multiContext();
    await sleep(30); // a clock tick, so every context file is recorded in the stat index
    const first = await build({ ...base, dockerfileText: dockerfile, context, store, tags: ['app:1'] });
    // Replace the cache's copies of the first two layers (new inodes: the store's files stay intact) with
    // garbage of the same size: any read of them would fail verification.
    for (const digest of first.steps.slice(0, 2).map((s) => s.layer!)) {
      const file = join(store.root, 'cache', 'blobs', 'sha256', digest.slice('sha256:'.length));
      const size = (await stat(file)).size;
      await writeFile(`${file}.garbage`, randomBytes(size));
      await rename(`${file}.garbage`, file);
    }
    await writeFile(join(context, 'conf.txt'), 'conf changed');
    const again = await build({ ...base, dockerfileText: dockerfile, context, store, tags: ['app:1'] });
    expect(cached(again)).toEqual([true, true, true, false]);
    expect(again.cache.contextFilesRead).toBe(1);
    expect(again.digest).toBe((await build({ ...base, dockerfileText: dockerfile, context, store: await freshStore(), noCache: true })).digest);
  });

  it('concurrent builds of different Dockerfiles over shared steps agree with builds without cache', async () => {
    const store = await freshStore();
    const context = await multiContext();
    const other = MULTI.replace('LABEL built=yes', 'LABEL built=other');
    const [a, b] = await Promise.all([build({ ...base, context, store }), build({ ...base, dockerfileText: other, context, store })]);
    const [ra, rb] = await Promise.all([
      build({ ...base, context, store: await freshStore(), noCache: true }),
      build({ ...base, dockerfileText: other, context, store: await freshStore(), noCache: true }),
    ]);
    expect([a.digest, b.digest]).toEqual([ra.digest, rb.digest]);
  });

  it('a torn record or a missing blob is a miss, and the step runs again', async () => {
    const store = await freshStore();
    const context = await writeContext({ x: 'x', y: 'y' });
    const dockerfile = 'FROM scratch\nCOPY x /x\nCOPY y /y\n';
    const first = await build({ ...base, dockerfileText: dockerfile, context, store });
    const root = join(store.root, 'cache');
    for (const shard of await readdir(join(root, 'records'))) {
      for (const name of await readdir(join(root, 'records', shard))) await writeFile(join(root, 'records', shard, name), '{"v":1,"key":');
    }
    const torn = await build({ ...base, dockerfileText: dockerfile, context, store });
    expect(cached(torn)).toEqual([false, false]);
    await rm(join(root, 'blobs'), { recursive: true });
    const noBlobs = await build({ ...base, dockerfileText: dockerfile, context, store });
    expect(cached(noBlobs)).toEqual([false, false]);
    expect(noBlobs.digest).toBe(first.digest);
  });
});
