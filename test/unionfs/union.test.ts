/**
 * Documented behaviour of UnionFS, example by example: copy-up, whiteouts,
 * opaque directories, reserved names, symlink confinement, errors shaped like
 * Node's, commit. Laws over random inputs live in model.test.ts and
 * kernel.test.ts.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { readTar } from '../../src/layers/tar/read.js';
import { LayerkitError } from '../../src/errors.js';
import type { FsLike } from '../../src/testing/unionfs.js';
import { InvalidLayerError, LayerIndex, LowerStack, UnionFS } from '../../src/unionfs/index.js';
import { hostView, removeDir, tempDir } from './helpers.js';

const meta = { uid: 0, gid: 0, mtime: 1_700_000_000, size: 0 };
const dir = (path: string, mode = 0o755): Entry => ({ ...meta, path, type: 'dir', mode });
const file = (path: string, text: string, mode = 0o644, owner = 0): Entry => {
  const bytes = Buffer.from(text);
  return { ...meta, path, type: 'file', mode, uid: owner, gid: owner, size: bytes.length, content: bytesSource(bytes) };
};
const symlink = (path: string, target: string): Entry => ({ ...meta, path, type: 'symlink', mode: 0o777, linkname: target });
const hardlink = (path: string, target: string): Entry => ({ ...meta, path, type: 'hardlink', mode: 0o644, linkname: target });
const whiteout = (path: string): Entry => file(path, '', 0o600);

const base: Entry[] = [
  dir('/etc'),
  file('/etc/passwd', 'root:x:0:0\n', 0o644),
  file('/etc/shadow', 'secret', 0o600, 42),
  dir('/usr'),
  dir('/usr/bin'),
  file('/usr/bin/tool', 'v1', 0o755),
  hardlink('/usr/bin/tool-alias', '/usr/bin/tool'),
  dir('/var'),
  dir('/var/cache'),
  file('/var/cache/a', 'a'),
  symlink('/bin', 'usr/bin'),
];
const app: Entry[] = [dir('/etc'), whiteout('/etc/.wh.shadow'), dir('/var'), dir('/var/cache'), whiteout('/var/cache/.wh..wh..opq'), file('/var/cache/b', 'b')];

async function entriesOf(layer: { uncompressed(): AsyncIterable<Uint8Array> }): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  for await (const { entry, body } of readTar(layer.uncompressed())) {
    const chunks: Uint8Array[] = [];
    for await (const c of body) chunks.push(c);
    out.set(entry.path, { ...entry, content: bytesSource(Buffer.concat(chunks)) });
  }
  return out;
}

async function text(entry: Entry | undefined): Promise<string> {
  const chunks: Uint8Array[] = [];
  if (entry?.content) for await (const c of entry.content.open()) chunks.push(c);
  return Buffer.concat(chunks).toString();
}

describe('lookups through the stack', () => {
  it('shows the topmost version, hides whiteouts and what opaque directories cover', async () => {
    const view = await UnionFS.open([base, app]);
    expect(await view.readdir('/etc')).toEqual(['passwd']);
    expect(await view.readdir('/var/cache')).toEqual(['b']);
    await expect(view.stat('/etc/shadow')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await view.readFile('/bin/tool', 'utf8')).toBe('v1');
    expect((await view.lstat('/bin')).isSymbolicLink()).toBe(true);
  });

  it('never shows whiteout or opaque marker names, and refuses to create .wh. names', async () => {
    const view = await UnionFS.open([base, app]);
    const all = await view.readdir('/', { recursive: true });
    expect(all.some((p) => p.split('/').some((n) => n.startsWith('.wh.')))).toBe(false);
    await expect(view.stat('/etc/.wh.shadow')).rejects.toMatchObject({ code: 'ENOENT' });
    for (const op of [
      () => view.writeFile('/etc/.wh.passwd', ''),
      () => view.mkdir('/.wh.x'),
      () => view.symlink('a', '/.wh.y'),
      () => view.link('/etc/passwd', '/etc/.wh.z'),
      () => view.rename('/etc/passwd', '/etc/.wh..wh..opq'),
    ]) {
      await expect(op()).rejects.toMatchObject({ code: 'EINVAL' });
    }
    expect(view.changes()).toEqual([]);
  });

  it('rejects layers with invalid whiteout names', () => {
    for (const name of ['/.wh.', '/a/.wh..', '/a/.wh...']) {
      expect(() => LayerIndex.fromEntries([dir('/a'), whiteout(name)])).toThrow(InvalidLayerError);
    }
  });

  it('keeps X when the same layer also holds .wh.X, in either order', async () => {
    for (const order of [
      [file('/x', 'new'), whiteout('/.wh.x')],
      [whiteout('/.wh.x'), file('/x', 'new')],
    ]) {
      const view = await UnionFS.open([[file('/x', 'old')], order]);
      expect(await view.readFile('/x', 'utf8')).toBe('new');
    }
  });

  it('reads layers given as Layer objects, through the layers module reader', async () => {
    const view = await UnionFS.open([layerFromEntries(base), layerFromEntries(app)]);
    expect(await view.readFile('/usr/bin/tool', 'utf8')).toBe('v1');
    expect(await view.readdir('/var/cache')).toEqual(['b']);
  });
});

describe('copy-up', () => {
  it('reading never copies anything up', async () => {
    const view = await UnionFS.open([base, app]);
    await view.readFile('/etc/passwd');
    await view.stat('/usr/bin/tool');
    await view.readdir('/var/cache', { withFileTypes: true });
    await view.access('/usr/bin/tool', 1);
    await view.realpath('/bin/tool');
    expect(view.changes()).toEqual([]);
  });

  it('appending to a lower file keeps its bytes and metadata (the unionfs data-loss case)', async () => {
    const view = await UnionFS.open([base]);
    await view.appendFile('/etc/shadow', '+more');
    expect(await view.readFile('/etc/shadow', 'utf8')).toBe('secret+more');
    const st = await view.stat('/etc/shadow');
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o600, 42, 42]);
    expect(view.changes()).toEqual([
      { kind: 'modify', path: '/etc' },
      { kind: 'modify', path: '/etc/shadow' },
    ]);
  });

  it('a metadata change copies the data up too', async () => {
    const view = await UnionFS.open([base]);
    await view.chmod('/etc/passwd', 0o600);
    const layer = await view.commit();
    const entries = await entriesOf(layer);
    expect(await text(entries.get('/etc/passwd'))).toBe('root:x:0:0\n');
    expect(entries.get('/etc/passwd')?.mode).toBe(0o600);
  });

  it('copy-up breaks a lower hardlink by default (overlayfs index=off), keeps it with hardlinks: "preserve"', async () => {
    const docker = await UnionFS.open([base]);
    await docker.writeFile('/usr/bin/tool', 'v2');
    expect(await docker.readFile('/usr/bin/tool-alias', 'utf8')).toBe('v1');
    expect((await docker.stat('/usr/bin/tool')).nlink).toBe(1);

    const plain = await UnionFS.open([base], { hardlinks: 'preserve' });
    expect((await plain.stat('/usr/bin/tool')).nlink).toBe(2);
    await plain.writeFile('/usr/bin/tool', 'v2');
    expect(await plain.readFile('/usr/bin/tool-alias', 'utf8')).toBe('v2');
    await plain.unlink('/usr/bin/tool-alias');
    expect((await plain.stat('/usr/bin/tool')).nlink).toBe(1);
  });
});

describe('deletion, opaque directories, rename', () => {
  it('deleting a lower entry records a whiteout; making the name again drops it', async () => {
    const view = await UnionFS.open([base]);
    await view.unlink('/etc/passwd');
    expect(view.changes()).toEqual([
      { kind: 'modify', path: '/etc' },
      { kind: 'delete', path: '/etc/passwd' },
    ]);
    let entries = await entriesOf(await view.commit());
    expect(entries.get('/etc/.wh.passwd')).toMatchObject({ type: 'file', size: 0 });

    await view.writeFile('/etc/passwd', 'again');
    expect(view.changes()).toEqual([
      { kind: 'modify', path: '/etc' },
      { kind: 'add', path: '/etc/passwd' },
    ]);
    entries = await entriesOf(await view.commit());
    expect([...entries.keys()].filter((p) => p.includes('.wh.'))).toEqual([]);
  });

  it('a directory removed and made again is opaque', async () => {
    const view = await UnionFS.open([base]);
    await view.rm('/var/cache', { recursive: true });
    await view.mkdir('/var/cache');
    await view.writeFile('/var/cache/new', 'n');
    expect(await view.readdir('/var/cache')).toEqual(['new']);
    const entries = await entriesOf(await view.commit());
    expect(entries.has('/var/cache/.wh..wh..opq')).toBe(true);
    expect(await view.readdir('/var/cache')).toEqual(['new']);
  });

  it('rename of a directory with lower content gives EXDEV (overlayfs without redirect_dir), or copies up on request', async () => {
    const docker = await UnionFS.open([base]);
    await expect(docker.rename('/usr', '/opt')).rejects.toMatchObject({ code: 'EXDEV', syscall: 'rename', path: '/usr', dest: '/opt' });
    await docker.mkdir('/new');
    await docker.writeFile('/new/f', 'x');
    await docker.rename('/new', '/moved');
    expect(await docker.readFile('/moved/f', 'utf8')).toBe('x');

    const copying = await UnionFS.open([base], { renameDir: 'copy-up' });
    await copying.rename('/usr', '/opt');
    expect(await copying.readFile('/opt/bin/tool', 'utf8')).toBe('v1');
    await expect(copying.stat('/usr')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rename of a lower file copies it up and whites out the old name', async () => {
    const view = await UnionFS.open([base]);
    await view.rename('/etc/passwd', '/etc/passwd-');
    expect(view.changes()).toEqual([
      { kind: 'modify', path: '/etc' },
      { kind: 'delete', path: '/etc/passwd' },
      { kind: 'add', path: '/etc/passwd-' },
    ]);
  });
});

describe('symlinks resolve inside the view', () => {
  it('absolute targets start at the view root and .. never climbs above it', async () => {
    const view = await UnionFS.open([
      [dir('/etc'), file('/etc/hostname', 'box'), dir('/a'), symlink('/a/abs', '/etc/hostname'), symlink('/a/up', '../../../../etc/hostname')],
    ]);
    expect(await view.readFile('/a/abs', 'utf8')).toBe('box');
    expect(await view.readFile('/a/up', 'utf8')).toBe('box');
    expect(await view.realpath('/a/up')).toBe('/etc/hostname');
    expect(await view.readdir('/../../..')).toEqual(['a', 'etc']);
  });

  it('follows 40 links and fails on the 41st with ELOOP, as Linux does', async () => {
    const chain = (n: number): Entry[] => [
      file('/target', 't'),
      ...Array.from({ length: n }, (_, i) => symlink(`/l${i}`, i === n - 1 ? '/target' : `/l${i + 1}`)),
    ];
    expect(await (await UnionFS.open([chain(40)])).readFile('/l0', 'utf8')).toBe('t');
    await expect((await UnionFS.open([chain(41)])).readFile('/l0')).rejects.toMatchObject({ code: 'ELOOP' });
  });
});

describe('errors are shaped like node:fs errors', () => {
  it('has the same code, errno, syscall, path and message as Node for the same mistake', async () => {
    const root = await tempDir();
    try {
      await fsp.mkdir(join(root, 'd'));
      await fsp.writeFile(join(root, 'f'), '');
      const view = await UnionFS.open([[dir('/d'), file('/f', '')]]);
      const cases: [(fs: FsLike) => Promise<unknown>, string][] = [
        [(fs) => fs.readFile('/missing'), 'readFile missing'],
        [(fs) => fs.readdir('/f'), 'readdir file'],
        [(fs) => fs.rmdir('/f'), 'rmdir file'],
        [(fs) => fs.mkdir('/d', { recursive: false, mode: 0o777 }), 'mkdir existing'],
        [(fs) => fs.unlink('/d'), 'unlink dir'],
        [(fs) => fs.rename('/missing', '/x'), 'rename missing'],
        [(fs) => fs.link('/d', '/x'), 'link dir'],
        [(fs) => fs.rm('/d', { recursive: false, force: false }), 'rm dir'],
      ];
      for (const [run, what] of cases) {
        const real = (await run(hostView(root)).catch((e: unknown) => e)) as NodeJS.ErrnoException;
        const ours = (await run(view).catch((e: unknown) => e)) as NodeJS.ErrnoException;
        expect(ours, what).toBeInstanceOf(LayerkitError);
        expect([ours.code, ours.errno, ours.syscall, ours.message], what).toEqual([real.code, real.errno, real.syscall, real.message.replaceAll(root, '')]);
      }
    } finally {
      await removeDir(root);
    }
  });
});

describe('commit', () => {
  it('starts a fresh upper over the committed layer and keeps the view', async () => {
    const view = await UnionFS.open([base]);
    await view.writeFile('/etc/motd', 'hi');
    const before = await view.readdir('/', { recursive: true });
    await view.commit();
    expect(view.changes()).toEqual([]);
    expect(view.lowers.depth).toBe(2);
    expect(await view.readdir('/', { recursive: true })).toEqual(before);
    await view.unlink('/etc/motd');
    expect(view.changes()).toEqual([
      { kind: 'modify', path: '/etc' },
      { kind: 'delete', path: '/etc/motd' },
    ]);
  });

  it('is deterministic: the same changes give the same diffID, whatever their order or the clock', async () => {
    const digests = new Set<string>();
    for (const [order, start] of [
      [0, 1_000],
      [1, 9_000_000],
    ] as const) {
      let t = start;
      const view = await UnionFS.open([base], { now: () => (t += 1000) });
      const steps = [() => view.writeFile('/etc/a', 'a'), () => view.rm('/var', { recursive: true }), () => view.mkdir('/opt')];
      for (const step of order ? steps.reverse() : steps) await step();
      await view.utimes('/etc', 5, 5);
      await view.utimes('/etc/a', 5, 5);
      await view.utimes('/opt', 5, 5);
      await view.utimes('/', 5, 5);
      digests.add(await (await view.commit({ sourceDateEpoch: 100 })).diffId());
    }
    expect(digests.size).toBe(1);
  });
});

describe('streams', () => {
  it('reads ranges and writes through streams without open()', async () => {
    const view = await UnionFS.open([base]);
    const chunks: Buffer[] = [];
    for await (const c of view.createReadStream('/etc/passwd', { start: 5, end: 7 })) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('x:0');
    const out = view.createWriteStream('/etc/new');
    out.write('hello ');
    out.end('world');
    await new Promise((resolve, reject) => out.on('finish', resolve).on('error', reject));
    expect(await view.readFile('/etc/new', 'utf8')).toBe('hello world');
    const append = view.createWriteStream('/etc/passwd', { flags: 'a' });
    append.end('bob\n');
    await new Promise((resolve) => append.on('finish', resolve));
    expect(await view.readFile('/etc/passwd', 'utf8')).toBe('root:x:0:0\nbob\n');
    const failing = view.createReadStream('/nope');
    await expect(new Promise((_, reject) => failing.on('error', reject).resume())).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('stacks', () => {
  it('share the stack built for a prefix of the same layer indexes', () => {
    const a = LayerIndex.fromEntries(base);
    const b = LayerIndex.fromEntries(app);
    expect(LowerStack.of([a, b])).toBe(LowerStack.of([a, b]));
    expect(LowerStack.of([a, b]).layers[0]).toBe(LowerStack.of([a]).layers[0]);
    expect(LowerStack.of([a]).withLayer(b)).toBe(LowerStack.of([a, b]));
  });
});

describe('rename between two names of one lower file', () => {
  it('moves like two files under overlayfs without an index, does nothing on a plain file system', async () => {
    const layer = [file('/c', 'data'), hardlink('/d', '/c')];
    const docker = await UnionFS.open([layer]);
    await docker.rename('/c', '/d');
    expect(await docker.readdir('/')).toEqual(['d']);
    expect((await docker.stat('/d')).nlink).toBe(1);

    const plain = await UnionFS.open([layer], { hardlinks: 'preserve' });
    await plain.rename('/c', '/d');
    expect(await plain.readdir('/')).toEqual(['c', 'd']);
    expect((await plain.stat('/d')).nlink).toBe(2);
  });
});
