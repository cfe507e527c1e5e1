import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, symlink as fsSymlink, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { apply } from '../../src/layers/changes/apply.js';
import { diff } from '../../src/layers/changes/diff.js';
import { toLayer } from '../../src/layers/changes/emit.js';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { extractLayer } from '../../src/layers/extract.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { Tree } from '../../src/layers/tree.js';
import { treeEvolutionArbitrary } from '../../src/testing/trees.js';
import { dir, file, hardlink, membersOf, symlink, whiteout } from './changes-helpers.js';
import { snapshotDir, snapshotWithoutRoot, tempDir } from './extract-helpers.js';
import { bundleForOthers } from '../support/bundle-for-others.js';
import { attrTools } from '../support/attr-tools.js';
import { ownerReadableTree } from '../support/owner-readable.js';

const RUNS = Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0);
const isRoot = process.getuid?.() === 0;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
async function collectAll(source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return chunks;
}
async function temp(): Promise<string> {
  const t = await tempDir();
  cleanups.push(t.cleanup);
  return t.path;
}

describe('extractLayer', () => {
  it('extracts into a missing directory in one rename, with modes, owners, mtimes and hardlinks', async () => {
    const root = await temp();
    const target = join(root, 'rootfs');
    const layer = layerFromEntries([
      dir('/etc', 0o750, 1000),
      file('/etc/motd', 'hello', 0o640, 2000),
      { ...file('/bin/tool', '#!/bin/sh', 0o4755, 3000), uid: 1, gid: 2 },
      hardlink('/bin/alias', '/bin/tool'),
      symlink('/bin/sh', 'busybox'),
      { ...dir('/tmp', 0o1777), mtime: 5 },
      { path: '/run/fifo', type: 'fifo', mode: 0o600, uid: 0, gid: 0, mtime: 7, size: 0 },
    ]);
    const result = await extractLayer(layer, target);
    expect(result).toEqual({ mode: 'fresh', entries: 7, skipped: [], whiteouts: [], opaques: [] });
    expect(await readFile(join(target, 'etc/motd'), 'utf8')).toBe('hello');
    const motd = await lstat(join(target, 'etc/motd'));
    expect([motd.mode & 0o7777, motd.mtimeMs / 1000]).toEqual([0o640, 2000]);
    const etc = await lstat(join(target, 'etc'));
    expect([etc.mode & 0o7777, etc.mtimeMs / 1000]).toEqual([0o750, 1000]);
    const tool = await lstat(join(target, 'bin/tool'));
    expect(tool.mode & 0o7777).toBe(0o4755);
    if (isRoot) expect([tool.uid, tool.gid]).toEqual([1, 2]);
    expect((await lstat(join(target, 'bin/alias'))).ino).toBe(tool.ino);
    expect((await lstat(join(target, 'tmp'))).mode & 0o7777).toBe(0o1777);
    expect((await lstat(join(target, 'run/fifo'))).isFIFO()).toBe(true);
    expect((await lstat(join(target, 'run'))).mode & 0o7777).toBe(0o755); // implicit parent
    expect((await readdir(root)).sort()).toEqual(['rootfs']); // no staging left behind
  });

  it('writes many small files in batches with their modes, owners and mtimes, and reports a failed write as the fs error', async () => {
    const root = await temp();
    const files = Array.from({ length: 300 }, (_, i) => ({
      ...file(`/d${i % 7}/f${i}`, 'x'.repeat(i * 37), [0o644, 0o600, 0o4755, 0o2711, 0o1777][i % 5], 1000 + i),
      uid: i % 3,
      gid: i % 4,
    }));
    await extractLayer(layerFromEntries(files, { level: 1 }), join(root, 'ok'));
    for (const f of files) {
      const st = await lstat(join(root, 'ok', f.path));
      expect([st.size, st.mode & 0o7777, st.mtimeMs / 1000], f.path).toEqual([f.size, f.mode, f.mtime]);
      if (isRoot) expect([st.uid, st.gid], f.path).toEqual([f.uid, f.gid]);
    }
    // A name the file system refuses (one component over 255 bytes) fails in the middle of a batch.
    const bad = [...files.slice(0, 50), file(`/d0/${'n'.repeat(300)}`, 'too long'), ...files.slice(50, 100)];
    const target = join(root, 'bad');
    const err = await extractLayer(layerFromEntries(bad, { level: 1 }), target).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENAMETOOLONG', syscall: 'open' });
    expect(existsSync(target)).toBe(false);
    expect((await readdir(root)).sort()).toEqual(['ok']); // no staging left behind
  });

  it('keeps every byte of files that pass through the writer ring many times over', async () => {
    const root = await temp();
    // ~40 MiB in files of 0 B to 1 MiB + 1 (the largest batched size and the smallest streamed one
    // included): the writer's 8 MiB ring wraps around several times, with batches still being written.
    const sizes = [0, 1, 511, 512, 1 << 20, (1 << 20) + 1, ...Array.from({ length: 74 }, (_, i) => ((i * 7919) % 1024) * 1024 + i)];
    const entries: Entry[] = sizes.map((size, i) => {
      const bytes = randomBytes(size);
      return { path: `/p${i % 5}/f${i}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1000 + i, size, ...(size ? { content: bytesSource(bytes) } : {}) };
    });
    const digests = await Promise.all(entries.map(async (e) => sha256(e.content ? Buffer.concat(await collectAll(e.content.open())) : new Uint8Array(0))));
    await extractLayer(layerFromEntries(entries, { level: 1 }), join(root, 'out'));
    for (const [i, e] of entries.entries()) {
      const bytes = await readFile(join(root, 'out', e.path));
      expect([bytes.length, sha256(bytes)], e.path).toEqual([e.size, digests[i]]);
    }
  });

  it('equals the in-memory apply, layer after layer, for generated trees', async () => {
    await fc.assert(
      fc.asyncProperty(treeEvolutionArbitrary(2, { xattrs: false, linuxSymlinks: true, ...(isRoot ? {} : { specialFiles: false, owners: [process.getuid!()], modeMask: 0o777 }) }).map((trees) => trees.map(ownerReadableTree)), async ([a, b]) => {
        const target = join(await temp(), 'rootfs');
        const first = toLayer(diff(Tree.empty(), a!), a!, { compression: 'none' });
        const second = toLayer(diff(a!, b!), b!, { compression: 'none' });
        expect((await extractLayer(first, target)).mode).toBe('fresh');
        expect(await snapshotDir(target)).toEqual(await snapshotWithoutRoot(await apply(Tree.empty(), first)));
        const result = await extractLayer(second, target);
        expect(result.skipped).toEqual([]);
        expect(await snapshotDir(target)).toEqual(await snapshotWithoutRoot(b!));
      }),
      { numRuns: RUNS || 25 },
    );
  });

  it('applies whiteouts and opaque markers onto an existing tree, keeping same-layer entries', async () => {
    const target = await temp();
    await mkdir(join(target, 'a/b/c'), { recursive: true });
    await writeFile(join(target, 'a/b/c/bar'), 'bar');
    await writeFile(join(target, 'a/keep'), 'keep');
    await writeFile(join(target, 'gone'), 'gone');
    const members = membersOf([file('/a/b/.wh..wh..opq'), whiteout('/.wh.gone'), dir('/a/b/c'), file('/a/b/c/foo', 'foo'), file('/gone', 'back'), whiteout('/.wh.gone-too')]);
    const result = await extractLayer(members, target);
    expect(result).toMatchObject({ mode: 'merge', whiteouts: ['/gone', '/gone-too'], opaques: ['/a/b'] });
    expect(await readdir(join(target, 'a/b/c'))).toEqual(['foo']);
    expect(await readFile(join(target, 'a/keep'), 'utf8')).toBe('keep');
    expect(await readFile(join(target, 'gone'), 'utf8')).toBe('back');
    expect((await readdir(join(target, '..'))).filter((n) => n.includes('.layerkit-'))).toEqual([]);
  });

  it('replaces a directory by a file and a file by a directory; merges directory attributes', async () => {
    const target = await temp();
    await mkdir(join(target, 'd/sub'), { recursive: true });
    await writeFile(join(target, 'd/sub/x'), 'x');
    await writeFile(join(target, 'f'), 'f');
    await mkdir(join(target, 'm'), { mode: 0o700 });
    await writeFile(join(target, 'm/old'), 'old');
    await extractLayer(layerFromEntries([file('/d', 'now a file'), dir('/f', 0o711), file('/f/inside', 'i'), dir('/m', 0o751, 42), file('/m/new', 'n')]), target);
    expect(await readFile(join(target, 'd'), 'utf8')).toBe('now a file');
    expect(await readdir(join(target, 'f'))).toEqual(['inside']);
    expect((await readdir(join(target, 'm'))).sort()).toEqual(['new', 'old']);
    const m = await lstat(join(target, 'm'));
    expect([m.mode & 0o7777, m.mtimeMs / 1000]).toEqual([0o751, 42]);
  });

  it('links a hardlink to a lower file that the same layer whites out', async () => {
    const target = await temp();
    await writeFile(join(target, 'old'), 'payload');
    await extractLayer(membersOf([hardlink('/new', '/old'), whiteout('/.wh.old')]), target);
    expect(existsSync(join(target, 'old'))).toBe(false);
    expect(await readFile(join(target, 'new'), 'utf8')).toBe('payload');
  });

  it('skips device nodes when told to (or when not root) and lists them', async () => {
    const target = join(await temp(), 'r');
    const dev = { path: '/dev/null', type: 'char' as const, mode: 0o666, uid: 0, gid: 0, mtime: 0, size: 0, devmajor: 1, devminor: 3 };
    const result = await extractLayer(layerFromEntries([dev, file('/x', 'x')]), target, { devices: 'skip' });
    expect(result.skipped).toEqual([{ path: '/dev/null', reason: 'device nodes need root' }]);
    expect(existsSync(join(target, 'dev/null'))).toBe(false);
    expect(await readFile(join(target, 'x'), 'utf8')).toBe('x');
    if (isRoot) {
      const made = join(await temp(), 'r');
      await extractLayer(layerFromEntries([dev]), made);
      const st = await lstat(join(made, 'dev/null'));
      expect(st.isCharacterDevice()).toBe(true);
    }
  });

  it.runIf(attrTools('setting xattrs on extraction'))('sets xattrs where permitted and lists the rest', async () => {
    const target = join(await temp(), 'r');
    const user = { 'user.note': new TextEncoder().encode('hi') };
    const result = await extractLayer(layerFromEntries([{ ...file('/f', 'f'), xattrs: user }, { ...symlink('/l', 'f'), xattrs: user }]), target);
    expect(result.skipped.map((s) => s.path)).toEqual(['/l']);
    const dump = execFileSync('getfattr', ['-d', '-e', 'text', '--absolute-names', join(target, 'f')], { encoding: 'utf8' });
    expect(dump).toContain('user.note="hi"');
  });

  it('reads a symlink target dir as the target (realpath) and refuses a file as target', async () => {
    const root = await temp();
    await mkdir(join(root, 'real'));
    await fsSymlink('real', join(root, 'via'));
    await extractLayer(layerFromEntries([file('/x', 'x')]), join(root, 'via'));
    expect(await readFile(join(root, 'real/x'), 'utf8')).toBe('x');
    expect((await lstat(join(root, 'via'))).isSymbolicLink()).toBe(true);
    await writeFile(join(root, 'file'), '');
    await expect(extractLayer(layerFromEntries([file('/x')]), join(root, 'file'))).rejects.toMatchObject({ code: 'TARGET_NOT_DIRECTORY' });
  });
});

const setpriv = spawnSync('setpriv', ['--version'], { encoding: 'utf8' });
const canDropRoot = isRoot && !setpriv.error;
if (!canDropRoot && !process.env.CI) console.warn(`skipping the non-root extraction test: ${isRoot ? 'setpriv missing' : 'needs root to switch to nobody'}`);

describe.runIf(canDropRoot || Boolean(process.env.CI))('extractLayer as an unprivileged user', () => {
  it('skips device nodes and owners, keeps modes and mtimes, and says so', async () => {
    const work = await temp();
    await chmod(work, 0o777);
    const src = (rel: string) => fileURLToPath(new URL(`../../src/layers/${rel}`, import.meta.url));
    // nobody may not be able to read the checkout: it runs a bundle in the world-readable dir.
    const script = await bundleForOthers(
      work,
      'run',
      `import { extractLayer } from ${JSON.stringify(src('extract.ts'))};
import { layerFromEntries } from ${JSON.stringify(src('from-entries.ts'))};
const r = await extractLayer(layerFromEntries([
  { path: '/dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, mtime: 0, size: 0, devmajor: 1, devminor: 3 },
  { path: '/bin/su', type: 'file', mode: 0o4755, uid: 0, gid: 0, mtime: 5, size: 0 },
  { path: '/home/u', type: 'dir', mode: 0o700, uid: 1000, gid: 1000, mtime: 7, size: 0 },
]), process.argv[2]);
console.log(JSON.stringify(r));
`,
    );
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', `HOME=${work}`, process.execPath, script, join(work, 'out')], { encoding: 'utf8', cwd: work });
    expect(r.stderr).toBe('');
    const result = JSON.parse(r.stdout);
    expect(result.skipped).toEqual([{ path: '/dev/null', reason: 'device nodes need root' }]);
    const su = await lstat(join(work, 'out/bin/su'));
    expect([su.mode & 0o7777, su.uid, su.mtimeMs / 1000]).toEqual([0o4755, 65534, 5]);
    const home = await lstat(join(work, 'out/home/u'));
    expect([home.mode & 0o7777, home.uid, home.mtimeMs / 1000]).toEqual([0o700, 65534, 7]);
    expect(existsSync(join(work, 'out/dev/null'))).toBe(false);
  });
});
