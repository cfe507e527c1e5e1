/**
 * Build-cache checksums of COPY selections, and the persisted stat index
 * that makes them incremental.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ContextError, openContext, StatCache } from '../../src/context/index.js';
import { RootIndex } from '../../src/context/stat-cache.js';
import { getfattrReader } from '../../src/context/xattrs.js';

/** Property runs; LAYERKIT_PROPERTY_RUNS raises them for longer runs. */
const runs = (n: number) => ({ numRuns: Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0) || n });

const made: string[] = [];
async function tempDir(prefix = 'lk-sum-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const FILE_KEYS = ['a', 'b', 'c', 'd/a', 'd/b', 'e/f/a', 'e/f/b'] as const;
const LINK_KEYS = ['l1', 'd/l2'] as const;
type FileSpec = { content: Uint8Array; mode: number };
interface TreeSpec {
  files: Partial<Record<(typeof FILE_KEYS)[number], FileSpec>>;
  links: Partial<Record<(typeof LINK_KEYS)[number], string>>;
}

const fileSpec = fc.record({
  content: fc.uint8Array({ maxLength: 40 }),
  mode: fc.constantFrom(0o644, 0o600, 0o755, 0o4755, 0o1644),
});
const treeSpec: fc.Arbitrary<TreeSpec> = fc.record({
  files: fc.dictionary(fc.constantFrom(...FILE_KEYS), fileSpec, { minKeys: 1 }) as fc.Arbitrary<TreeSpec['files']>,
  links: fc.dictionary(fc.constantFrom(...LINK_KEYS), fc.constantFrom('a', '../b', 'missing', '/abs')) as fc.Arbitrary<TreeSpec['links']>,
});

/** Writes a tree, entries in the given order, with arbitrary mtimes. */
async function writeTree(root: string, spec: TreeSpec, order: number[], mtimes: number[]): Promise<void> {
  const items = [
    ...Object.entries(spec.files).map(([path, file]) => ({ path, file })),
    ...Object.entries(spec.links).map(([path, target]) => ({ path, target })),
  ];
  const sorted = order.slice(0, items.length).map((i) => items[i % items.length]!);
  const seen = new Set<string>();
  for (const item of [...sorted, ...items]) {
    if (seen.has(item.path)) continue;
    seen.add(item.path);
    const host = join(root, item.path);
    await mkdir(dirname(host), { recursive: true });
    if ('file' in item && item.file) {
      await writeFile(host, item.file.content);
      await chmod(host, item.file.mode);
      const t = mtimes[seen.size % mtimes.length] ?? 1_000_000;
      await utimes(host, t, t);
    } else if ('target' in item && item.target !== undefined) {
      await symlink(item.target, host);
    }
  }
}

async function checksumOf(root: string, options: { cache?: StatCache; owner?: 'root' | 'host'; xattrs?: boolean } = {}) {
  const ctx = await openContext(root, { xattrs: options.xattrs ?? false, ...(options.owner ? { owner: options.owner } : {}) });
  return ctx.checksum(await ctx.resolveSources(['.']), options.cache ? { cache: options.cache } : {});
}

describe('checksum', () => {
  it('does not depend on creation or readdir order, mtimes or the host path (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        treeSpec,
        fc.array(fc.nat(20), { minLength: 9, maxLength: 9 }),
        fc.array(fc.integer({ min: 0, max: 2_000_000_000 }), { minLength: 1, maxLength: 4 }),
        async (spec, order, mtimes) => {
          const one = await tempDir();
          const two = await tempDir();
          await writeTree(one, spec, [], [1_000_000]);
          await writeTree(two, spec, order, mtimes);
          expect(await checksumOf(two)).toBe(await checksumOf(one));
        },
      ),
      runs(20),
    );
  });

  it('changes with any content, mode or symlink target change (property)', async () => {
    await fc.assert(
      fc.asyncProperty(treeSpec, fc.nat(), fc.constantFrom('content', 'mode', 'target'), async (spec, pick, change) => {
        const root = await tempDir();
        await writeTree(root, spec, [], [1_000_000]);
        const before = await checksumOf(root);
        const files = Object.keys(spec.files);
        const links = Object.keys(spec.links);
        if (change === 'target' && links.length > 0) {
          const path = join(root, links[pick % links.length]!);
          const old = spec.links[links[pick % links.length] as (typeof LINK_KEYS)[number]]!;
          await unlink(path);
          await symlink(old + 'x', path);
        } else if (change === 'mode') {
          const key = files[pick % files.length] as (typeof FILE_KEYS)[number];
          await chmod(join(root, key), spec.files[key]!.mode ^ 0o010);
        } else {
          const key = files[pick % files.length] as (typeof FILE_KEYS)[number];
          const content = spec.files[key]!.content;
          const next = content.length === 0 ? Uint8Array.of(0) : content.map((b, i) => (i === pick % content.length ? b ^ 1 : b));
          await writeFile(join(root, key), next);
        }
        expect(await checksumOf(root)).not.toBe(before);
      }),
      runs(25),
    );
  });

  it('counts owners only when the context keeps host owners', async () => {
    if (process.getuid?.() !== 0) {
      console.warn('skipping owner check: chown needs root');
      return;
    }
    const root = await tempDir();
    await writeFile(join(root, 'f'), 'x');
    const [asRoot, asHost] = [await checksumOf(root), await checksumOf(root, { owner: 'host' })];
    await chown(join(root, 'f'), 1000, 1000);
    expect(await checksumOf(root)).toBe(asRoot);
    expect(await checksumOf(root, { owner: 'host' })).not.toBe(asHost);
  });

  it('covers what COPY would produce: source order, file names, not directory names, excludes', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'x'));
    await mkdir(join(root, 'y'));
    for (const dir of ['x', 'y']) await writeFile(join(root, dir, 'f'), 'same');
    await writeFile(join(root, 'p'), 'p');
    await writeFile(join(root, 'q'), 'q');
    await writeFile(join(root, 'p2'), 'p');
    const ctx = await openContext(root, { xattrs: false });
    const sum = async (sources: string[], excludes: string[] = []) => ctx.checksum(await ctx.resolveSources(sources, { excludes }));
    expect(await sum(['x'])).toBe(await sum(['y']));
    expect(await sum(['p', 'q'])).not.toBe(await sum(['q', 'p']));
    expect(await sum(['p'])).not.toBe(await sum(['p2']));
    expect(await sum(['.'], ['q'])).not.toBe(await sum(['.']));
    expect(await sum(['nomatch*'])).toBe(await sum([]));
  });

  it('refuses a selection made by another context', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'f'), 'x');
    const [a, b] = [await openContext(root, { xattrs: false }), await openContext(root, { xattrs: false })];
    await expect(b.checksum(await a.resolveSources(['f']))).rejects.toBeInstanceOf(ContextError);
  });

  it('covers extended attributes (BuildKit selection) when getfattr is available', async () => {
    if (!(await getfattrReader())) {
      if (process.env.CI) throw new Error('getfattr missing (Debian package attr)');
      console.warn('skipping xattr checksum check: getfattr is not installed');
      return;
    }
    const root = await tempDir();
    await writeFile(join(root, 'f'), 'x');
    execFileSync('setfattr', ['-n', 'user.first', '-v', '1', join(root, 'f')]);
    const cache = new StatCache(await tempDir('lk-cache-'));
    await sleep(30);
    // A record made without xattrs must not stand in for one with them, nor the other way.
    expect(await checksumOf(root, { xattrs: false, cache })).toBe(await checksumOf(root, { xattrs: false }));
    const before = await checksumOf(root, { xattrs: true, cache });
    expect(before).toBe(await checksumOf(root, { xattrs: true }));
    expect(await checksumOf(root, { xattrs: false, cache })).toBe(await checksumOf(root, { xattrs: false }));
    execFileSync('setfattr', ['-n', 'user.mark', '-v', 'on', join(root, 'f')]);
    const full = await checksumOf(root, { xattrs: true });
    expect(full).not.toBe(before);
    expect(await checksumOf(root, { xattrs: true, cache })).toBe(full);
    expect(await checksumOf(root, { xattrs: false })).not.toBe(full);
  });
});

describe('incremental checksum with a StatCache', () => {
  it('reads no file contents again for an unchanged context, across cache objects', async () => {
    const root = await tempDir();
    for (const name of ['a', 'b', 'c']) await writeFile(join(root, name), name.repeat(100));
    const cacheDir = await tempDir('lk-cache-');
    await sleep(30); // let the files be older than the cache fence
    const first = new StatCache(cacheDir);
    const full = await checksumOf(root);
    expect(await checksumOf(root, { cache: first })).toBe(full);
    expect(first.stats).toEqual({ hits: 0, misses: 3 });
    const again = new StatCache(cacheDir);
    expect(await checksumOf(root, { cache: again })).toBe(full);
    expect(again.stats).toEqual({ hits: 3, misses: 0 });
  });

  it('re-hashes a same-size rewrite with the old mtime restored (ctime moves) — buildkit#4950', async () => {
    const root = await tempDir();
    const file = join(root, 'config');
    await writeFile(file, 'value=1');
    await sleep(30);
    const cache = new StatCache(await tempDir('lk-cache-'));
    const before = await checksumOf(root, { cache });
    const { atime, mtime } = await stat(file);
    await writeFile(file, 'value=2');
    await utimes(file, atime, mtime);
    const after = await checksumOf(root, { cache });
    expect(after).not.toBe(before);
    expect(after).toBe(await checksumOf(root));
  });

  it('does not record files changed in the same clock tick as the fence (racy entries)', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'f'), 'x');
    const stats = await stat(join(root, 'f'), { bigint: true });
    const index = await RootIndex.load(join(await tempDir('lk-cache-'), 'index.json'), root);
    index.store('f', stats, stats.ctimeNs, undefined, undefined);
    expect(index.lookup('f', stats)).toBeUndefined();
    index.store('f', stats, stats.ctimeNs + 1n, undefined, undefined);
    expect(index.lookup('f', stats)).toBeDefined();
    // A whole-second ctime hints at a coarse filesystem: two seconds of margin.
    const coarse = { ...stats, ctimeNs: 5_000_000_000n } as typeof stats;
    index.store('g', coarse, 6_000_000_000n, undefined, undefined);
    expect(index.lookup('g', coarse)).toBeUndefined();
    index.store('g', coarse, 7_000_000_001n, undefined, undefined);
    expect(index.lookup('g', coarse)).toBeDefined();
  });

  it('ignores a corrupt index', async () => {
    const root = await tempDir();
    await writeFile(join(root, 'f'), 'x');
    const cacheDir = await tempDir('lk-cache-');
    const cache = new StatCache(cacheDir);
    await sleep(30);
    await checksumOf(root, { cache });
    const indexFile = (await cache.index(root)).file;
    await writeFile(indexFile, '{"version":1,"root":');
    expect(await checksumOf(root, { cache: new StatCache(cacheDir) })).toBe(await checksumOf(root));
    expect(JSON.parse(await readFile(indexFile, 'utf8'))).toMatchObject({ version: 1, root });
  });

  type Op =
    | { op: 'edit'; key: number; content: Uint8Array }
    | { op: 'rewrite'; key: number }
    | { op: 'touch'; key: number; time: number }
    | { op: 'chmod'; key: number; mode: number }
    | { op: 'rename'; key: number; to: number }
    | { op: 'remove'; key: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('edit' as const), key: fc.nat(), content: fc.uint8Array({ maxLength: 12 }) }),
    fc.record({ op: fc.constant('rewrite' as const), key: fc.nat() }),
    fc.record({ op: fc.constant('touch' as const), key: fc.nat(), time: fc.integer({ min: 0, max: 2_000_000_000 }) }),
    fc.record({ op: fc.constant('chmod' as const), key: fc.nat(), mode: fc.constantFrom(0o600, 0o644, 0o755, 0o2755) }),
    fc.record({ op: fc.constant('rename' as const), key: fc.nat(), to: fc.nat() }),
    fc.record({ op: fc.constant('remove' as const), key: fc.nat() }),
  );

  async function apply(root: string, op: Op): Promise<void> {
    const path = join(root, FILE_KEYS[op.key % FILE_KEYS.length]!);
    const exists = await stat(path).then(() => true, () => false);
    if (op.op === 'edit') {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, op.content);
      return;
    }
    if (!exists) return;
    switch (op.op) {
      case 'rewrite': {
        // Same size, same mtime, different bytes: only ctime tells.
        const { atime, mtime } = await stat(path);
        const bytes = await readFile(path);
        await writeFile(path, bytes.length === 0 ? bytes : bytes.map((b) => b ^ 0xff));
        await utimes(path, atime, mtime);
        return;
      }
      case 'touch':
        return utimes(path, op.time, op.time);
      case 'chmod':
        return chmod(path, op.mode);
      case 'rename': {
        const to = join(root, FILE_KEYS[op.to % FILE_KEYS.length]!);
        await mkdir(dirname(to), { recursive: true });
        return rename(path, to);
      }
      case 'remove':
        return unlink(path);
    }
  }

  it('equals a full checksum after any sequence of edits, rewrites, touches, chmods, renames and removals (property)', async () => {
    await fc.assert(
      fc.asyncProperty(treeSpec, fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 }), async (spec, steps) => {
        const root = await tempDir();
        await writeTree(root, spec, [], [1_000_000]);
        const cache = new StatCache(await tempDir('lk-cache-'));
        await sleep(15);
        expect(await checksumOf(root, { cache })).toBe(await checksumOf(root));
        for (const step of steps) {
          for (const op of step) await apply(root, op);
          expect(await checksumOf(root, { cache })).toBe(await checksumOf(root));
        }
        // Once the files are older than the fence, an unchanged context is all hits.
        await sleep(15);
        await checksumOf(root, { cache });
        const { misses } = cache.stats;
        expect(await checksumOf(root, { cache })).toBe(await checksumOf(root));
        expect(cache.stats.misses).toBe(misses);
      }),
      runs(12),
    );
  });
});
