/**
 * Interop with GNU tar and gzip: our tars and blobs read by them, theirs
 * read by us. A missing tool skips with a printed reason, except under CI.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parallelGzip } from '../../src/layers/compress/index.js';
import { comparePaths, type Entry } from '../../src/layers/entry.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { writeTar } from '../../src/layers/tar/write.js';
import { treeArbitrary } from '../../src/testing/layers.js';
import { ociLayout, run, tool } from './interop-helpers.js';
import { collect, comparableOf, readAll, streamOf, type Comparable } from './tar-helpers.js';
import { attrTools } from '../support/attr-tools.js';
import { ownerReadable } from '../support/owner-readable.js';

const haveTar = tool('tar');
const haveGzip = tool('gzip');
const haveUmoci = tool('umoci', '--version');
const isRoot = process.getuid?.() === 0;
const canMknod = isRoot && (() => {
  const dir = mkdtempSync(join(tmpdir(), 'layerkit-mknod-'));
  try {
    return spawnSync('mknod', [join(dir, 'n'), 'c', '1', '3']).status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

const cleanups: string[] = [];
afterEach(() => {
  for (const dir of cleanups.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'layerkit-interop-tar-'));
  cleanups.push(dir);
  return dir;
}

/** Paths under `root` (entry form), found with plain readdir. */
function walk(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel))) {
    const path = `${rel}/${name}`;
    out.push(path);
    if (lstatSync(join(root, path)).isDirectory()) out.push(...walk(root, path));
  }
  return out;
}

/** What the kernel says about an extracted path, in the comparable shape (an oracle independent of our walker). */
function describeHostFile(host: string, path: string): Comparable {
  const st = lstatSync(host, { bigint: true });
  const mode = Number(st.mode);
  const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : 'block';
  const out: Comparable = {
    path,
    type,
    mode: mode & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtime: Number(st.mtimeNs / 1_000_000_000n),
    size: type === 'file' ? Number(st.size) : 0,
    content: createHash('sha256').update(type === 'file' ? readFileSync(host) : new Uint8Array(0)).digest('hex'),
  };
  if (type === 'symlink') out.linkname = readlinkSync(host);
  if (type === 'char' || type === 'block') {
    const rdev = st.rdev;
    out.devmajor = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
    out.devminor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  }
  return out;
}

/** The id chown(2) reads as "unchanged". */
const NO_ID = 2 ** 32 - 1;

const TYPE_LETTER: Record<string, string> = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p' };

describe.runIf(haveTar)('GNU tar reads our layers', () => {
  it('lists and extracts the same tree: types, modes, owners, mtimes, link targets, contents, long and unicode names', async () => {
    await fc.assert(
      fc.asyncProperty(
        treeArbitrary({ maxEntries: 10, xattrs: false, extremeTimes: false, specialFiles: canMknod, maxFileSize: 20_000 }).map((entries) => entries.map(ownerReadable)),
        async (entries) => {
          const dir = temp();
          const blob = join(dir, 'layer.tar.gz');
          writeFileSync(blob, await collect(layerFromEntries(entries, { level: 1 }).compressed()));
          const sorted = [...entries].sort((a, b) => comparePaths(a.path, b.path));

          const listing = run('tar', ['-tvzf', blob, '--quoting-style=escape', '--numeric-owner']).split('\n').filter((l) => l !== '');
          expect(listing.map((line) => line[0])).toEqual(sorted.map((e) => TYPE_LETTER[e.type]));
          // Every owner is in the tar, the ones extraction cannot give a file too.
          expect(listing.map((line) => line.split(/\s+/)[1])).toEqual(sorted.map((e) => `${e.uid}/${e.gid}`));

          const out = join(dir, 'out');
          mkdirSync(out);
          run('tar', ['-xzf', blob, '-C', out, '--numeric-owner', ...(isRoot ? ['--same-owner'] : []), '--same-permissions']);
          expect(walk(out).sort(comparePaths)).toEqual(sorted.map((e) => e.path));
          for (const entry of sorted) {
            const host = join(out, entry.path);
            if (entry.type === 'hardlink') {
              expect(lstatSync(host).ino, entry.path).toBe(lstatSync(join(out, entry.linkname!)).ino);
              continue;
            }
            const want = await comparableOf(entry);
            const have = describeHostFile(host, entry.path);
            // Directory and symlink times are not restored (children touch them); owners only as root.
            if (entry.type === 'dir' || entry.type === 'symlink') have.mtime = want.mtime;
            if (entry.type === 'symlink') have.mode = want.mode; // always 0777 on Linux
            if (!isRoot) {
              have.uid = want.uid;
              have.gid = want.gid;
            }
            // (uid_t)-1 tells chown(2) to leave the owner as it is: no file on Linux can be owned by it.
            if (want.uid === NO_ID) have.uid = want.uid;
            if (want.gid === NO_ID) have.gid = want.gid;
            expect(have, entry.path).toEqual(want);
          }
        },
      ),
      { numRuns: Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 12) },
    );
  });

  it('restores xattrs written as SCHILY.xattr records', async () => {
    const dir = temp();
    const entries: Entry[] = [
      { path: '/f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, xattrs: { 'user.one': new TextEncoder().encode('1'), 'user.bin': Uint8Array.of(0, 255) } },
    ];
    writeFileSync(join(dir, 'x.tar'), await collect(writeTar(entries)));
    const out = join(dir, 'out');
    mkdirSync(out);
    run('tar', ['-xf', join(dir, 'x.tar'), '-C', out, '--xattrs', '--xattrs-include=user.*']);
    if (!attrTools('reading the xattrs GNU tar restored')) return;
    const dump = run('getfattr', ['-d', '-e', 'hex', '--absolute-names', join(out, 'f')]);
    expect(dump).toContain('user.one=0x31');
    expect(dump).toContain('user.bin=0x00ff');
  });
});

/** A directory that needs every GNU extension: long names and targets, unicode, hardlinks, symlinks. */
function fixtureDir(root: string): void {
  const long = join(root, 'l'.repeat(90), 'm'.repeat(90), 'n'.repeat(120));
  mkdirSync(long, { recursive: true });
  writeFileSync(join(long, 'f'.repeat(150)), 'deep');
  mkdirSync(join(root, 'ünïcødé 日本'), { recursive: true });
  writeFileSync(join(root, 'ünïcødé 日本', '😀.txt'), 'smile');
  symlinkSync('../' + 't'.repeat(180) + '/target', join(root, 'long-link'));
  symlinkSync('ünïcødé 日本/😀.txt', join(root, 'short-link'));
  writeFileSync(join(root, 'data.bin'), randomBytes(70_000));
  linkSync(join(root, 'data.bin'), join(root, 'data-hard'));
  linkSync(join(long, 'f'.repeat(150)), join(root, 'hard-to-long'));
}

describe.runIf(haveTar)('we read GNU tar archives', () => {
  for (const format of ['gnu', 'pax'] as const) {
    it(`--format=${format}: long names, long targets, unicode, hardlinks, symlinks, large uid`, async () => {
      const dir = temp();
      const src = join(dir, 'src');
      mkdirSync(src);
      fixtureDir(src);
      const tarFile = join(dir, 'gnu.tar');
      run('tar', [`--format=${format}`, '-cf', tarFile, '--sort=name', '--owner=3000000', '--group=4000000', '--numeric-owner', '-C', src, '.']);
      const read = await readAll(streamOf(readFileSync(tarFile)));
      expect(read[0]).toMatchObject({ name: './', path: '/', type: 'dir' });
      const mine = read.slice(1);
      expect(mine.map((m) => m.path).sort(comparePaths)).toEqual(walk(src).sort(comparePaths));
      // Hardlinks: GNU tar stores the first path it met as the file and links the others to it.
      const groups = (list: Array<{ path: string; type: string; linkname?: string }>) => {
        const byTarget = new Map<string, string[]>();
        for (const m of list) if (m.type === 'hardlink') byTarget.set(m.linkname!, [...(byTarget.get(m.linkname!) ?? [m.linkname!]), m.path]);
        return [...byTarget.values()].map((g) => g.sort(comparePaths).join(' ')).sort();
      };
      const inodes = new Map<bigint, string[]>();
      for (const path of walk(src)) {
        const st = lstatSync(join(src, path), { bigint: true });
        if (!st.isDirectory() && st.nlink > 1n) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), path]);
      }
      expect(groups(mine)).toEqual([...inodes.values()].map((g) => g.sort(comparePaths).join(' ')).sort());
      for (const have of mine) {
        if (have.type === 'hardlink') continue;
        const want = describeHostFile(join(src, have.path), have.path);
        want.uid = 3_000_000;
        want.gid = 4_000_000;
        const { name: _, ...rest } = have;
        expect(rest, have.path).toEqual(want);
      }
      expect(mine.find((m) => m.path === '/long-link')!.linkname).toBe('../' + 't'.repeat(180) + '/target');
    });
  }
});

describe.runIf(haveTar && haveGzip)('parallel gzip output', () => {
  it('passes gzip -t and extracts with GNU tar', async () => {
    const dir = temp();
    // Several 1 MiB blocks, some stored (random), some deflated (text), one straddling both.
    const text = Buffer.from('layer tar gzip digest '.repeat(200_000));
    const random = randomBytes(3_000_000);
    const entries: Entry[] = [
      { path: '/random', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: random.length, content: { size: random.length, open: () => streamOf(random) } },
      { path: '/text', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: text.length, content: { size: text.length, open: () => streamOf(text) } },
    ];
    const blob = join(dir, 'layer.tar.gz');
    writeFileSync(blob, await collect(parallelGzip(writeTar(entries), { level: 6 })));
    run('gzip', ['-t', blob]);
    const out = join(dir, 'out');
    mkdirSync(out);
    run('tar', ['-xzf', blob, '-C', out]);
    expect(readFileSync(join(out, 'random')).equals(random)).toBe(true);
    expect(readFileSync(join(out, 'text')).equals(text)).toBe(true);
    // And gzip itself decompresses to our exact tar.
    const viaGzip = spawnSync('gzip', ['-dc', blob], { maxBuffer: 1 << 28 }).stdout;
    expect(Buffer.compare(viaGzip, await collect(writeTar(entries)))).toBe(0);
  });
});

describe.runIf(haveUmoci)('umoci reads our layers', () => {
  it('unpacks a multi-block parallel-gzip layer (stored and deflated runs) to the same files', async () => {
    const dir = temp();
    const random = randomBytes(2_500_000);
    const text = Buffer.from('umoci reads layerkit layers\n'.repeat(120_000));
    const entries: Entry[] = [
      { path: '/data', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0 },
      { path: '/data/random.bin', type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: 1_700_000_000, size: random.length, content: { size: random.length, open: () => streamOf(random) } },
      { path: '/data/text.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size: text.length, content: { size: text.length, open: () => streamOf(text) } },
      { path: '/data/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0, linkname: 'text.txt' },
    ];
    const layout = join(dir, 'layout');
    await ociLayout(layout, layerFromEntries(entries, { level: 1 }));
    const bundle = join(dir, 'bundle');
    run('umoci', ['unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${layout}:test`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    expect(readFileSync(join(rootfs, 'data/random.bin')).equals(random)).toBe(true);
    expect(readFileSync(join(rootfs, 'data/text.txt')).equals(text)).toBe(true);
    expect(readlinkSync(join(rootfs, 'data/link'))).toBe('text.txt');
    expect(lstatSync(join(rootfs, 'data/random.bin')).mode & 0o7777).toBe(0o600);
  });
});
