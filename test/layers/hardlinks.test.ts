/**
 * Hardlink groups in written layers: whichever member the entries describe
 * in full, and however the links chain, the tar holds the first path of each
 * group (in canonical order) in full and links every later one to it, so
 * extractors that link to what they already wrote (GNU tar, umoci) can
 * extract it. Checked for every way layerkit writes a layer: entries, a
 * directory on disk, a changeset (with links to files of the lower tree),
 * and a union fs commit.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diff } from '../../src/layers/changes/diff.js';
import { toLayer } from '../../src/layers/changes/emit.js';
import { LayerFormatError } from '../../src/layers/changes/errors.js';
import { bytesSource, comparePaths, type Entry } from '../../src/layers/entry.js';
import { layerFromDirectory } from '../../src/layers/from-directory.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import type { Layer } from '../../src/layers/layer.js';
import { readTar } from '../../src/layers/tar/read.js';
import { writeTar } from '../../src/layers/tar/write.js';
import { Tree } from '../../src/layers/tree.js';
import { UnionFS } from '../../src/unionfs/union.js';
import { ociLayout, run, tool } from './interop-helpers.js';
import { collect, sha } from './tar-helpers.js';

const RUNS = Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0);
const haveTar = tool('tar');
const haveUmoci = tool('umoci', '--version');
const isRoot = process.getuid?.() === 0;

const cleanups: string[] = [];
afterEach(() => {
  for (const dir of cleanups.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'layerkit-hardlinks-'));
  cleanups.push(dir);
  return dir;
}

// Names chosen so that canonical order, plain byte order and creation order disagree.
const DIRS = ['p', 'p-q', 'é'];
const NAMES = ['a', 'b', 'd', 'a-b', 'a.b', 'zz', '0', 'ü'];

/** A generated layer content: files in link groups, each group one inode. */
interface LinkCase {
  /** The directories the files need, parents first. */
  dirs: string[];
  /** Each group's paths in canonical order, with its bytes and metadata. */
  groups: Array<{ paths: string[]; bytes: Uint8Array; mode: number; mtime: number }>;
  /** How the entries express each group: a random holder, each other member linked to a random earlier one (chains). */
  entries: Entry[];
}

const linkCaseArbitrary: fc.Arbitrary<LinkCase> = fc
  .uniqueArray(fc.tuple(fc.option(fc.constantFrom(...DIRS), { nil: undefined }), fc.constantFrom(...NAMES)), {
    minLength: 2,
    maxLength: 12,
    selector: ([d, n]) => `${d}/${n}`,
  })
  .chain((files) =>
    fc.record({
      files: fc.constant(files.map(([d, n]) => (d ? `/${d}/${n}` : `/${n}`))),
      groupOf: fc.array(fc.nat({ max: 3 }), { minLength: files.length, maxLength: files.length }),
      order: fc.array(fc.nat(), { minLength: files.length, maxLength: files.length }),
      linkTo: fc.array(fc.nat(), { minLength: files.length, maxLength: files.length }),
      bytes: fc.array(fc.uint8Array({ maxLength: 3000 }), { minLength: 4, maxLength: 4 }),
      modes: fc.array(fc.constantFrom(0o644, 0o600, 0o755, 0o4755), { minLength: 4, maxLength: 4 }),
      mtimes: fc.array(fc.integer({ min: 0, max: 2_000_000_000 }), { minLength: 4, maxLength: 4 }),
    }),
  )
  .map(({ files, groupOf, order, linkTo, bytes, modes, mtimes }) => {
    const byGroup = new Map<number, string[]>();
    files.forEach((path, i) => byGroup.set(groupOf[i]!, [...(byGroup.get(groupOf[i]!) ?? []), path]));
    const dirs = [...new Set(files.filter((p) => p.lastIndexOf('/') > 0).map((p) => p.slice(0, p.lastIndexOf('/'))))].sort(comparePaths);
    const entries: Entry[] = dirs.map((path) => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }));
    const groups: LinkCase['groups'] = [];
    for (const [g, members] of byGroup) {
      const meta = { mode: modes[g]!, uid: 0, gid: 0, mtime: mtimes[g]! };
      // The order in which the entries "met" the group's paths: the first is the holder.
      const met = members
        .map((path) => ({ path, key: order[files.indexOf(path)]! }))
        .sort((a, b) => a.key - b.key || comparePaths(a.path, b.path))
        .map((m) => m.path);
      met.forEach((path, i) => {
        if (i === 0) entries.push({ path, type: 'file', ...meta, size: bytes[g]!.length, content: bytesSource(bytes[g]!) });
        else entries.push({ path, type: 'hardlink', ...meta, size: 0, linkname: met[linkTo[files.indexOf(path)]! % i]! });
      });
      groups.push({ paths: [...members].sort(comparePaths), bytes: bytes[g]!, ...meta });
    }
    return { dirs, groups, entries };
  });

/** Reads a tar and checks that every hardlink names an earlier entry that is not itself a hardlink. */
async function checkLinksPointBack(tar: AsyncIterable<Uint8Array>): Promise<Array<{ path: string; type: string; linkname?: string; content: string }>> {
  const seen = new Map<string, string>();
  const out = [];
  for await (const member of readTar(tar)) {
    const { path, type, linkname } = member.entry;
    if (type === 'hardlink') {
      expect(seen.get(linkname!), `${path} links to ${linkname}, which must come earlier`).toBeDefined();
      expect(seen.get(linkname!), `${path} links to ${linkname}, which must not be a link`).not.toBe('hardlink');
    }
    seen.set(path, type);
    out.push({ path, type, ...(linkname ? { linkname } : {}), content: await sha(member.body) });
  }
  return out;
}

/** Checks an extracted directory: each group is one inode holding the group's bytes. */
function checkGroupsOnDisk(root: string, groups: LinkCase['groups']): void {
  for (const group of groups) {
    const inodes = new Set(group.paths.map((p) => lstatSync(join(root, p)).ino));
    expect(inodes.size, `${group.paths.join(' ')} share one inode`).toBe(1);
    const first = join(root, group.paths[0]!);
    expect(Buffer.compare(readFileSync(first), group.bytes)).toBe(0);
    expect(lstatSync(first).mode & 0o7777).toBe(group.mode);
    expect(lstatSync(first).nlink).toBe(group.paths.length);
  }
}

function gnuExtract(tarFile: string, into: string): void {
  mkdirSync(into, { recursive: true });
  run('tar', ['-xf', tarFile, '-C', into, '--numeric-owner', '--same-permissions']);
}

describe('written hardlink groups', () => {
  it('every hardlink points at an earlier entry: the first path of its group, which carries the content', async () => {
    await fc.assert(
      fc.asyncProperty(linkCaseArbitrary, async (c) => {
        const members = await checkLinksPointBack(writeTar(c.entries));
        const byPath = new Map(members.map((m) => [m.path, m]));
        for (const group of c.groups) {
          const [first, ...rest] = group.paths;
          expect(byPath.get(first!)).toMatchObject({ type: 'file', content: await sha(bytesSource(group.bytes).open()) });
          for (const path of rest) expect(byPath.get(path)).toMatchObject({ type: 'hardlink', linkname: first });
        }
      }),
      { numRuns: RUNS || 100 },
    );
  });

  it('gives the same bytes however the entries express the groups', async () => {
    await fc.assert(
      fc.asyncProperty(linkCaseArbitrary, fc.func(fc.boolean()), async (c, flip) => {
        // The canonical expression: first path in full, every other member linked to it.
        const canonical: Entry[] = c.dirs.map((path) => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }));
        for (const g of c.groups) {
          const meta = { mode: g.mode, uid: 0, gid: 0, mtime: g.mtime };
          canonical.push({ path: g.paths[0]!, type: 'file', ...meta, size: g.bytes.length, content: bytesSource(g.bytes) });
          for (const path of g.paths.slice(1)) canonical.push({ path, type: 'hardlink', ...meta, size: 0, linkname: g.paths[0]! });
        }
        const shuffled = [...c.entries].sort((a, b) => (flip(a.path, b.path) ? -1 : 1));
        expect(Buffer.compare(await collect(writeTar(shuffled)), await collect(writeTar(canonical)))).toBe(0);
      }),
      { numRuns: RUNS || 50 },
    );
  });

  it('refuses links to files outside the layer, to directories and in cycles; keeps outside links when asked', async () => {
    const meta = { mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 };
    const outside: Entry[] = [{ ...meta, path: '/a', type: 'hardlink', linkname: '/lower/file' }];
    await expect(collect(writeTar(outside))).rejects.toThrow(LayerFormatError);
    await expect(collect(writeTar(outside))).rejects.toMatchObject({ code: 'HARDLINK_TARGET_MISSING', data: { entry: '/a' } });
    const kept = [];
    for await (const m of readTar(writeTar(outside, { externalHardlinks: 'keep' }))) kept.push(m.entry);
    expect(kept).toEqual([expect.objectContaining({ path: '/a', type: 'hardlink', linkname: '/lower/file' })]);
    const toDir: Entry[] = [{ ...meta, path: '/d', type: 'dir' }, { ...meta, path: '/a', type: 'hardlink', linkname: '/d' }];
    await expect(collect(writeTar(toDir, { externalHardlinks: 'keep' }))).rejects.toMatchObject({ code: 'HARDLINK_TARGET_MISSING' });
    const cycle: Entry[] = [
      { ...meta, path: '/a', type: 'hardlink', linkname: '/b' },
      { ...meta, path: '/b', type: 'hardlink', linkname: '/a' },
    ];
    await expect(collect(writeTar(cycle, { externalHardlinks: 'keep' }))).rejects.toMatchObject({ code: 'HARDLINK_TARGET_MISSING' });
  });
});

describe.runIf(haveTar)('GNU tar extracts layers with random link groups', () => {
  it('from entries', async () => {
    await fc.assert(
      fc.asyncProperty(linkCaseArbitrary, async (c) => {
        const dir = temp();
        writeFileSync(join(dir, 'layer.tar.gz'), await collect(layerFromEntries(c.entries, { level: 1 }).compressed()));
        mkdirSync(join(dir, 'out'));
        run('tar', ['-xzf', join(dir, 'layer.tar.gz'), '-C', join(dir, 'out'), '--numeric-owner', '--same-permissions']);
        checkGroupsOnDisk(join(dir, 'out'), c.groups);
      }),
      { numRuns: RUNS || 25 },
    );
  });

  it('from a directory on disk, whatever order the links were made in', async () => {
    await fc.assert(
      fc.asyncProperty(linkCaseArbitrary, async (c) => {
        const dir = temp();
        const src = join(dir, 'src');
        for (const d of c.dirs) mkdirSync(join(src, d), { recursive: true });
        mkdirSync(src, { recursive: true });
        // Create each group in the order its entries met it: the holder first, then links.
        for (const e of c.entries) {
          if (e.type === 'file') writeFileSync(join(src, e.path), c.groups.find((g) => g.paths.includes(e.path))!.bytes, { mode: e.mode });
        }
        for (const e of c.entries) if (e.type === 'hardlink') linkSync(join(src, holderPath(c.entries, e)), join(src, e.path));
        for (const g of c.groups) run('chmod', [g.mode.toString(8), join(src, g.paths[0]!)]);
        const layer = layerFromDirectory(src, { compression: 'none', xattrs: false });
        await checkLinksPointBack(layer.uncompressed());
        writeFileSync(join(dir, 'layer.tar'), await collect(layer.uncompressed()));
        gnuExtract(join(dir, 'layer.tar'), join(dir, 'out'));
        checkGroupsOnDisk(join(dir, 'out'), c.groups);
      }),
      { numRuns: RUNS || 15 },
    );
  });

  it('from a changeset whose new links join groups of the lower tree (the whole group is written, no link leaves the layer)', async () => {
    await fc.assert(
      fc.asyncProperty(linkCaseArbitrary, fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), async (c, inLower) => {
        // The lower tree holds a part of each group (at least its holder); the upper adds the rest as links.
        const upper = Tree.fromEntries(c.entries);
        const lower = Tree.fromEntries(c.entries.filter((e, i) => e.type !== 'hardlink' || (inLower[i % 12]! && linksToKept(c.entries, e, inLower))));
        await Promise.all([lower.hashContents(), upper.hashContents()]);
        const dir = temp();
        const lowerLayer = toLayer(diff(Tree.empty(), lower), lower, { compression: 'none' });
        const changes = toLayer(diff(lower, upper), upper, { compression: 'none' });
        await checkLinksPointBack(changes.uncompressed());
        writeFileSync(join(dir, 'lower.tar'), await collect(lowerLayer.uncompressed()));
        writeFileSync(join(dir, 'upper.tar'), await collect(changes.uncompressed()));
        // Applied on top of the lower, as a container runtime stacks layers.
        gnuExtract(join(dir, 'lower.tar'), join(dir, 'stacked'));
        gnuExtract(join(dir, 'upper.tar'), join(dir, 'stacked'));
        checkGroupsOnDisk(join(dir, 'stacked'), c.groups);
        // And on its own: it names no file outside itself.
        gnuExtract(join(dir, 'upper.tar'), join(dir, 'alone'));
      }),
      { numRuns: RUNS || 15 },
    );
  });

  it('from a union fs commit where the new name sorts before the old one', async () => {
    const view = await UnionFS.open();
    await view.mkdir('/p');
    await view.writeFile('/p/d', 'shared');
    await view.link('/p/d', '/p/a');
    await view.link('/p/d', '/0');
    const layer: Layer = await view.commit({ compression: 'none' });
    const members = await checkLinksPointBack(layer.uncompressed());
    expect(members.filter((m) => m.type !== 'dir').map((m) => [m.path, m.type, m.linkname])).toEqual([
      ['/0', 'file', undefined],
      ['/p/a', 'hardlink', '/0'],
      ['/p/d', 'hardlink', '/0'],
    ]);
    const dir = temp();
    writeFileSync(join(dir, 'layer.tar'), await collect(layer.uncompressed()));
    gnuExtract(join(dir, 'layer.tar'), join(dir, 'out'));
    checkGroupsOnDisk(join(dir, 'out'), [{ paths: ['/0', '/p/a', '/p/d'], bytes: Buffer.from('shared'), mode: lstatSync(join(dir, 'out/0')).mode & 0o7777, mtime: 0 }]);
  });
});

describe.runIf(haveUmoci)('umoci raw unpack extracts layers with random link groups', () => {
  it('from entries, and a changeset stacked on them', async () => {
    await fc.assert(
      fc.asyncProperty(linkCaseArbitrary, fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), async (c, inLower) => {
        const upper = Tree.fromEntries(c.entries);
        const lower = Tree.fromEntries(c.entries.filter((e, i) => e.type !== 'hardlink' || (inLower[i % 12]! && linksToKept(c.entries, e, inLower))));
        await Promise.all([lower.hashContents(), upper.hashContents()]);
        const dir = temp();
        await ociLayout(join(dir, 'one'), layerFromEntries(c.entries, { level: 1 }));
        await ociLayout(join(dir, 'two'), toLayer(diff(Tree.empty(), lower), lower, { level: 1 }), toLayer(diff(lower, upper), upper, { level: 1 }));
        for (const layout of ['one', 'two']) {
          const rootfs = join(dir, `${layout}-rootfs`);
          run('umoci', ['raw', 'unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${join(dir, layout)}:test`, rootfs]);
          checkGroupsOnDisk(rootfs, c.groups);
        }
      }),
      { numRuns: RUNS || 8 },
    );
  });
});

/** The holder a hardlink entry's chain ends at. */
function holderPath(entries: readonly Entry[], link: Entry): string {
  let at = link;
  while (at.type === 'hardlink') at = entries.find((e) => e.path === at.linkname)!;
  return at.path;
}

/** True when every link along `link`'s chain is kept in the lower tree too (so the lower tree is well formed). */
function linksToKept(entries: readonly Entry[], link: Entry, inLower: readonly boolean[]): boolean {
  let at = link;
  while (at.type === 'hardlink') {
    const next = entries.findIndex((e) => e.path === at.linkname);
    if (entries[next]!.type === 'hardlink' && !inLower[next % 12]) return false;
    at = entries[next]!;
  }
  return true;
}
