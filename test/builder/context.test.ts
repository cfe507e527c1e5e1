/**
 * The build context view and COPY/ADD source selection.
 *
 * Expected selections come from BuildKit's integration tests
 * (moby/buildkit@73ed682 `frontend/dockerfile/dockerfile_copy_test.go`:
 * testCopyWildcards, testEmptyWildcard, testCopySymlinks,
 * testCopyFollowAllSymlinks, testCopyThroughSymlinkContext, testCopySocket;
 * `exclude_patterns_test.go`: testExcludedFilesOnCopy) — marked [bk]; the
 * wildcard syntax cases are Go's own (golang/go `src/path/filepath/match_test.go`)
 * — marked [go].
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { chmod, chown, link, mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ContextError, ContextFsError, openContext, type CopySource } from '../../src/context/index.js';
import { BadPatternError, goClean, goMatch } from '../../src/context/go-path.js';
import { deviceNumbers } from '../../src/context/walk.js';
import { getfattrReader } from '../../src/context/xattrs.js';

type Spec = Record<string, string | { symlink: string } | null>;
/** Property runs; LAYERKIT_PROPERTY_RUNS raises them for longer runs. */
const runs = (n: number) => ({ numRuns: Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0) || n });

const made: string[] = [];

async function fixture(spec: Spec): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'lk-ctx-'));
  made.push(root);
  for (const [path, value] of Object.entries(spec)) {
    const host = join(root, path);
    await mkdir(value === null ? host : dirname(host), { recursive: true });
    if (typeof value === 'string') await writeFile(host, value);
    else if (value !== null) await symlink(value.symlink, host);
  }
  return root;
}

afterAll(async () => {
  await Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true })));
});

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function read(entryContent: { open(): AsyncIterable<Uint8Array> } | undefined): Promise<string> {
  let out = '';
  if (entryContent) for await (const chunk of entryContent.open()) out += text(chunk);
  return out;
}

/** Each source as "name|type|resolvedPath" and its contents as "rel:type[:content or ->target]". */
async function describeSources(sources: CopySource[]): Promise<string[]> {
  const out: string[] = [];
  for (const source of sources) {
    out.push(`${source.name}|${source.type}|${source.resolvedPath}`);
    for await (const { rel, entry } of source.entries()) {
      if (rel === '') continue;
      const detail = entry.type === 'file' ? `:${await read(entry.content)}` : entry.linkname ? `->${entry.linkname}` : '';
      out.push(`  ${rel}:${entry.type}${detail}`);
    }
  }
  return out;
}

describe('fs-shaped view', () => {
  it('stats, reads and lists, following symlinks only where asked', async () => {
    const root = await fixture({ 'dir/file': 'hello', link: { symlink: 'dir/file' }, dirlink: { symlink: 'dir' }, empty: null });
    const ctx = await openContext(root, { xattrs: false });
    expect((await ctx.lstat('/link')).type).toBe('symlink');
    expect(await ctx.readlink('link')).toBe('dir/file');
    const viaLink = await ctx.stat('/link');
    expect(viaLink).toMatchObject({ type: 'file', path: '/dir/file', size: 5 });
    expect(text(await ctx.readFile('/dirlink/file'))).toBe('hello');
    expect(await ctx.readdir('/')).toEqual(['dir', 'dirlink', 'empty', 'link']);
    expect(await ctx.readdir('/dirlink')).toEqual(['file']);
    expect(await ctx.exists('/dirlink/file')).toBe(true);
    expect(await ctx.exists('/nope')).toBe(false);
  });

  it('reports Node error codes', async () => {
    const root = await fixture({ 'dir/file': 'x', loop1: { symlink: 'loop2' }, loop2: { symlink: 'loop1' } });
    const ctx = await openContext(root, { xattrs: false });
    await expect(ctx.stat('/missing')).rejects.toMatchObject({ code: 'ENOENT', syscall: 'stat', path: '/missing' });
    await expect(ctx.stat('/dir/file/x')).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(ctx.readFile('/dir')).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(ctx.readlink('/dir')).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(ctx.readdir('/dir/file')).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(ctx.stat('/loop1')).rejects.toMatchObject({ code: 'ELOOP' });
    await expect(ctx.stat('/loop1')).rejects.toBeInstanceOf(ContextFsError);
    await expect(openContext(join(root, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(ctx.readDockerfile()).rejects.toMatchObject({ code: 'ENOENT', path: join(root, 'Dockerfile') });
    await expect(openContext(join(root, 'dir/file'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  it('resolves symlinks as under chroot: absolute and climbing targets stay inside', async () => {
    const root = await fixture({ 'etc/passwd': 'context copy', abs: { symlink: '/etc/passwd' }, up: { symlink: '../../../../etc/passwd' } });
    const ctx = await openContext(root, { xattrs: false });
    expect(text(await ctx.readFile('/abs'))).toBe('context copy');
    expect(text(await ctx.readFile('/up'))).toBe('context copy');
    expect(text(await ctx.readFile('/../../etc/passwd'))).toBe('context copy');
  });

  it('walks depth-first with siblings in byte order', async () => {
    const root = await fixture({ 'a/z': '', 'a-b': '', 'a.txt': '', B: '', 'é': '', 'z\u{1F600}': '', 'z\uFF5E': '' });
    const ctx = await openContext(root, { xattrs: false });
    const paths: string[] = [];
    for await (const entry of ctx.walk()) paths.push(entry.path);
    // UTF-8 order puts U+FF5E (EF BD 9E) before U+1F600 (F0 9F 98 80), unlike UTF-16 order.
    expect(paths).toEqual(['/', '/B', '/a', '/a/z', '/a-b', '/a.txt', '/z\uFF5E', '/z\u{1F600}', '/é']);
  });

  it('describes entries: mode bits, root ownership by default, mtime in seconds, links, fifos, sockets', async () => {
    const root = await fixture({ 'bin/tool': '#!/bin/sh\n', 'tmp/': null, a: 'same inode' });
    await chmod(join(root, 'bin/tool'), 0o4755);
    await chmod(join(root, 'tmp'), 0o1777);
    await link(join(root, 'a'), join(root, 'b'));
    execFileSync('mkfifo', [join(root, 'pipe')]);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(root, 'sock'), resolve));
    try {
      const ctx = await openContext(root, { xattrs: false });
      const entries = new Map<string, Awaited<ReturnType<typeof ctx.lstat>>>();
      for await (const entry of ctx.walk()) entries.set(entry.path, entry);
      expect(entries.get('/bin/tool')).toMatchObject({ type: 'file', mode: 0o4755, uid: 0, gid: 0, size: 10 });
      expect(entries.get('/tmp')).toMatchObject({ type: 'dir', mode: 0o1777, size: 0 });
      expect(entries.get('/a')).toMatchObject({ type: 'file', size: 10 });
      expect(entries.get('/b')).toMatchObject({ type: 'hardlink', linkname: '/a', size: 0 });
      expect(entries.get('/pipe')).toMatchObject({ type: 'fifo' });
      expect(entries.get('/sock')).toMatchObject({ type: 'file', size: 0 }); // [bk testCopySocket]
      expect(await read(entries.get('/sock')!.content)).toBe('');
      expect(Number.isInteger(entries.get('/a')!.mtime)).toBe(true);
      expect(Math.abs(entries.get('/a')!.mtime - Date.now() / 1000)).toBeLessThan(120);
      // A walk of /b alone has no earlier /a to link to.
      const alone: string[] = [];
      for await (const entry of ctx.walk('/b')) alone.push(entry.type);
      expect(alone).toEqual(['file']);
    } finally {
      server.close();
    }
  });

  it('keeps host owners only when asked', async () => {
    const root = await fixture({ f: 'x' });
    const isRoot = process.getuid?.() === 0;
    if (isRoot) await chown(join(root, 'f'), 1234, 5678);
    const expected = isRoot ? { uid: 1234, gid: 5678 } : { uid: process.getuid!(), gid: process.getgid!() };
    expect(await (await openContext(root, { owner: 'host', xattrs: false })).lstat('/f')).toMatchObject(expected);
    expect(await (await openContext(root, { xattrs: false })).lstat('/f')).toMatchObject({ uid: 0, gid: 0 });
  });

  it('decodes device numbers as glibc does', () => {
    expect(deviceNumbers((1n << 8n) | 3n)).toEqual([1, 3]); // /dev/null
    expect(deviceNumbers((259n << 8n) | (0x12345n & 0xffn) | ((0x12345n & ~0xffn) << 12n))).toEqual([259, 0x12345]);
  });

  it('opens content lazily and refuses a file that changed since it was listed', async () => {
    const root = await fixture({ f: '0123456789' });
    const ctx = await openContext(root, { xattrs: false });
    const source = await ctx.contentSource('/f');
    expect(source.size).toBe(10);
    await truncate(join(root, 'f'), 4);
    await expect(read(source)).rejects.toMatchObject({ code: 'CONTEXT_CHANGED', data: { path: '/f' } });
    await writeFile(join(root, 'f'), '0123456789abc');
    await expect(read(source)).rejects.toBeInstanceOf(ContextError);
  });

  it('reads extended attributes with getfattr', async () => {
    const reader = await getfattrReader();
    if (!reader) {
      if (process.env.CI) throw new Error('getfattr missing (Debian package attr)');
      console.warn('skipping xattr check: getfattr is not installed');
      return;
    }
    const root = await fixture({ 'a file': 'x', 'back\\slash': 'y' });
    try {
      execFileSync('setfattr', ['-n', 'user.note', '-v', '0x00ff', join(root, 'a file')]);
      execFileSync('setfattr', ['-n', 'user.e', join(root, 'back\\slash')]);
    } catch {
      console.warn('skipping xattr check: the temp filesystem refuses user xattrs');
      return;
    }
    const ctx = await openContext(root);
    const byPath = new Map<string, Record<string, Uint8Array> | undefined>();
    for await (const entry of ctx.walk()) byPath.set(entry.path, entry.xattrs);
    expect(byPath.get('/a file')).toEqual({ 'user.note': Uint8Array.from([0, 255]) });
    expect(byPath.get('/back\\slash')).toEqual({ 'user.e': new Uint8Array(0) });
    expect(byPath.get('/')).toBeUndefined();
  });
});

describe('resolveSources (COPY/ADD selection)', () => {
  const WILDCARDS: Spec = {
    'foo.go': 'foo-contents',
    'bar.go': 'bar-contents',
    'sub/dir1/dir2/foo': 'foo-contents',
  };

  it.each([
    [['*.go'], ['bar.go|file|/bar.go', 'foo.go|file|/foo.go']],
    [['f*.go'], ['foo.go|file|/foo.go']],
    [['sub/*'], ['dir1|dir|/sub/dir1', '  dir2:dir', '  dir2/foo:file:foo-contents']],
    [['sub/*/dir2/foo'], ['foo|file|/sub/dir1/dir2/foo']],
    [['sub/dir1/'], ['dir1|dir|/sub/dir1', '  dir2:dir', '  dir2/foo:file:foo-contents']],
    [['sub/dir1/.'], ['dir1|dir|/sub/dir1', '  dir2:dir', '  dir2/foo:file:foo-contents']],
    [['./sub//dir1'], ['dir1|dir|/sub/dir1', '  dir2:dir', '  dir2/foo:file:foo-contents']],
    [['/foo.go', 'nomatch*'], ['foo.go|file|/foo.go']], // [bk testEmptyWildcard]
  ])('[bk testCopyWildcards] %j', async (sources, expected) => {
    const ctx = await openContext(await fixture(WILDCARDS), { xattrs: false });
    expect(await describeSources(await ctx.resolveSources(sources))).toEqual(expected);
  });

  it('[bk testCopyWildcards] "." copies the whole context as its contents', async () => {
    const ctx = await openContext(await fixture(WILDCARDS), { xattrs: false });
    const [all] = await ctx.resolveSources(['.']);
    expect(all).toMatchObject({ name: '', type: 'dir', path: '/', resolvedPath: '/' });
    const rels: string[] = [];
    for await (const { rel } of all!.entries()) rels.push(rel);
    expect(rels).toEqual(['', 'bar.go', 'foo.go', 'sub', 'sub/dir1', 'sub/dir1/dir2', 'sub/dir1/dir2/foo']);
  });

  it('follows a named symlink and each wildcard match, never symlinks inside directories [bk testCopySymlinks, testCopyFollowAllSymlinks, testCopyThroughSymlinkContext]', async () => {
    const ctx = await openContext(
      await fixture({
        bar: 'bar-contents',
        foo: { symlink: 'bar' },
        'sub/lfile': 'lfile-contents',
        'sub/l0': { symlink: 'subfile' },
        'sub/subfile': 'subfile-contents',
        'sub/l1': { symlink: 'second' },
        'sub/second': { symlink: 'baz' },
        'sub/baz': 'baz-contents',
        'dir/sub': { symlink: '../bar' },
        link: { symlink: 'sub' },
      }),
      { xattrs: false },
    );
    expect(await describeSources(await ctx.resolveSources(['foo']))).toEqual(['foo|file|/bar']);
    expect(await describeSources(await ctx.resolveSources(['sub/l*']))).toEqual([
      'l0|file|/sub/subfile',
      'l1|file|/sub/baz',
      'lfile|file|/sub/lfile',
    ]);
    expect(await describeSources(await ctx.resolveSources(['dir']))).toEqual(['dir|dir|/dir', '  sub:symlink->../bar']);
    expect(await describeSources(await ctx.resolveSources(['dir/sub']))).toEqual(['sub|file|/bar']);
    expect(await describeSources(await ctx.resolveSources(['link/lfile']))).toEqual(['lfile|file|/sub/lfile']);
    expect(await describeSources(await ctx.resolveSources(['foo'], { followFinalSymlink: false }))).toEqual(['foo|symlink|/foo']);
  });

  describe('[bk testExcludedFilesOnCopy] --exclude', () => {
    const FILES: Spec = {
      'dir1/file-101.png': '2',
      'dir1/file-102.txt': '3',
      'dir1/file-103.jpeg': '4',
      'dir2/file-201.pdf': '6',
      'dir2/file-202.jpeg': '7',
      'dir2/file-203.png': '8',
      'dir3/file-301.mp3': '9',
      'dir3/file-302.mpeg': '10',
      'dir4/file-401.txt': '11',
      'dir4/file-402.txt': { symlink: 'file-401.txt' },
      'dir4/file-403.txt': { symlink: 'file-404.txt' },
    };
    const files = async (sources: string[], excludes: string[]) => {
      const ctx = await openContext(await fixture(FILES), { xattrs: false });
      const out: string[] = [];
      for (const source of await ctx.resolveSources(sources, { excludes })) {
        for await (const { rel, entry } of source.entries()) {
          if (entry.type === 'dir') continue;
          const value = entry.type === 'symlink' ? entry.linkname : await read(entry.content);
          out.push(`${rel || source.name}=${value}`);
        }
      }
      return out;
    };

    it('builder1: --exclude=*/*.png --exclude=*/*.jpeg .', async () => {
      expect(await files(['.'], ['*/*.png', '*/*.jpeg'])).toEqual([
        'dir1/file-102.txt=3',
        'dir2/file-201.pdf=6',
        'dir3/file-301.mp3=9',
        'dir3/file-302.mpeg=10',
        'dir4/file-401.txt=11',
        'dir4/file-402.txt=file-401.txt',
        'dir4/file-403.txt=file-404.txt',
      ]);
    });
    it('builder2: --exclude=*/*.pdf --exclude=*/*.txt .', async () => {
      expect(await files(['.'], ['*/*.pdf', '*/*.txt'])).toEqual([
        'dir1/file-101.png=2',
        'dir1/file-103.jpeg=4',
        'dir2/file-202.jpeg=7',
        'dir2/file-203.png=8',
        'dir3/file-301.mp3=9',
        'dir3/file-302.mpeg=10',
      ]);
    });
    it('builder3: --exclude=*.mp3 dir3/', async () => {
      expect(await files(['dir3/'], ['*.mp3'])).toEqual(['file-302.mpeg=10']);
    });
    it('builder4: five excludes, dir*', async () => {
      expect(await files(['dir*'], ['*.mp3', '*.jpeg', '*.png', '*.pdf', '*.txt'])).toEqual(['file-302.mpeg=10']);
    });
    it('builder5: --exclude=*.mp* and three more, dir*', async () => {
      expect(await files(['dir*'], ['*.mp*', '*.jpeg', '*.png', '*.pdf'])).toEqual([
        'file-102.txt=3',
        'file-401.txt=11',
        'file-402.txt=file-401.txt',
        'file-403.txt=file-404.txt',
      ]);
    });
    it('builder6: --exclude=* dir* copies nothing', async () => {
      expect(await files(['dir*'], ['*'])).toEqual([]);
    });
    it('an excluded directory appears only with a re-included descendant', async () => {
      const ctx = await openContext(await fixture({ 'a/keep/x': '1', 'a/drop/y': '2', 'a/z': '3' }), { xattrs: false });
      const [source] = await ctx.resolveSources(['a'], { excludes: ['*', '!keep/x'] });
      const rels: string[] = [];
      for await (const { rel } of source!.entries()) rels.push(rel);
      expect(rels).toEqual(['', 'keep', 'keep/x']);
    });
  });

  it('names a missing source in BuildKit words, with the source text', async () => {
    const ctx = await openContext(await fixture({ a: '' }), { xattrs: false });
    const err = await ctx.resolveSources(['a', 'missing.txt']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContextError);
    expect(err).toMatchObject({
      code: 'CONTEXT_NOT_FOUND',
      message: 'failed to compute cache key: "/missing.txt": not found',
      data: { source: 'missing.txt', path: '/missing.txt' },
    });
    await expect(ctx.resolveSources(['nomatch*'], { allowEmptyWildcard: false })).rejects.toMatchObject({ code: 'CONTEXT_NOT_FOUND' });
    await expect(ctx.resolveSources(['missingdir/*.txt'])).rejects.toMatchObject({ code: 'CONTEXT_NOT_FOUND', data: { path: '/missingdir' } });
    await expect(ctx.resolveSources(['a/x'])).rejects.toMatchObject({ code: 'CONTEXT_NOT_FOUND' });
    await expect(ctx.resolveSources(['[x-'])).rejects.toMatchObject({ code: 'CONTEXT_BAD_PATTERN', data: { source: '[x-' } });
    await expect(ctx.resolveSources(['a'], { excludes: ['!'] })).rejects.toMatchObject({ code: 'CONTEXT_BAD_PATTERN' });
  });

  it('rejects ../ sources by default and confines them on request (BuildKit)', async () => {
    const ctx = await openContext(await fixture({ x: 'inside' }), { xattrs: false });
    for (const source of ['../x', '/../x', 'a/../../x', '..']) {
      await expect(ctx.resolveSources([source])).rejects.toMatchObject({ code: 'CONTEXT_OUTSIDE', data: { source } });
    }
    const [confined] = await ctx.resolveSources(['../x'], { escape: 'confine' });
    expect(confined).toMatchObject({ path: '/x', type: 'file' });
    expect(await describeSources(await ctx.resolveSources(['/x']))).toEqual(['x|file|/x']);
  });

  it('rejects symlinks that lead out, or confines them to the context (BuildKit)', async () => {
    const root = await fixture({ 'etc/passwd': 'context copy', abs: { symlink: '/etc/passwd' }, up: { symlink: '../etc/passwd' }, 'd/up2': { symlink: '../../etc' } });
    const ctx = await openContext(root, { xattrs: false });
    await expect(ctx.resolveSources(['abs'])).rejects.toMatchObject({ code: 'CONTEXT_OUTSIDE', data: { path: '/abs', target: '/etc/passwd' } });
    await expect(ctx.resolveSources(['up'])).rejects.toMatchObject({ code: 'CONTEXT_OUTSIDE', data: { path: '/up' } });
    await expect(ctx.resolveSources(['d/up2/passwd'])).rejects.toMatchObject({ code: 'CONTEXT_OUTSIDE' });
    const confined = await openContext(root, { xattrs: false, escape: 'confine' });
    expect(await describeSources(await confined.resolveSources(['abs', 'up', 'd/up2/passwd']))).toEqual([
      'abs|file|/etc/passwd',
      'up|file|/etc/passwd',
      'passwd|file|/etc/passwd',
    ]);
    // Inside a copied directory a link is data: copied as written, never followed, never an error.
    expect(await describeSources(await ctx.resolveSources(['d']))).toEqual(['d|dir|/d', '  up2:symlink->../../etc']);
  });

  it('never reads outside the context, whatever the symlinks (property)', async () => {
    const outside = await fixture({ canary: 'OUTSIDE' });
    const targets = ['../canary', `${outside}/canary`, outside, '/', '..', '../..', 'sub/../../..', 'canary', 'sub', `../${outside.split('/').pop()}/canary`];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom(...targets), { minLength: 1, maxLength: 4 }), async (links) => {
        const spec: Spec = { canary: 'inside', 'sub/canary': 'inside too' };
        links.forEach((target, i) => (spec[`l${i}`] = { symlink: target }));
        const root = await fixture(spec);
        for (const escape of ['reject', 'confine'] as const) {
          const ctx = await openContext(root, { xattrs: false, escape });
          for (const i of links.keys()) {
            for (const source of [`l${i}`, `l${i}/canary`]) {
              let sources: CopySource[];
              try {
                sources = await ctx.resolveSources([source]);
              } catch (err) {
                expect(err).toBeInstanceOf(ContextError);
                expect(['CONTEXT_OUTSIDE', 'CONTEXT_NOT_FOUND']).toContain((err as ContextError).code);
                continue;
              }
              for (const s of sources) {
                for await (const { entry } of s.entries()) {
                  if (entry.type === 'file') expect(await read(entry.content)).not.toBe('OUTSIDE');
                }
              }
            }
            const viaView = await ctx.readFile(`/l${i}/canary`).then(text, () => 'unreadable');
            expect(viaView).not.toBe('OUTSIDE');
          }
        }
      }),
      runs(25),
    );
  });
});

describe('COPY wildcard syntax: Go filepath.Match on a POSIX host [go]', () => {
  const GO: [string, string, boolean | 'bad'][] = [
    ['abc', 'abc', true], ['*', 'abc', true], ['*c', 'abc', true], ['a*', 'a', true], ['a*', 'abc', true],
    ['a*', 'ab/c', false], ['a*/b', 'abc/b', true], ['a*/b', 'a/c/b', false], ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/f', true], ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f', false],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff', false], ['a*b?c*x', 'abxbbxdbxebxczzx', true], ['a*b?c*x', 'abxbbxdbxebxczzy', false],
    ['ab[c]', 'abc', true], ['ab[b-d]', 'abc', true], ['ab[e-g]', 'abc', false], ['ab[^c]', 'abc', false],
    ['ab[^b-d]', 'abc', false], ['ab[^e-g]', 'abc', true], ['a\\*b', 'a*b', true], ['a\\*b', 'ab', false],
    ['a?b', 'a☺b', true], ['a[^a]b', 'a☺b', true], ['a???b', 'a☺b', false], ['a[^a][^a][^a]b', 'a☺b', false],
    ['[a-ζ]*', 'α', true], ['*[a-ζ]', 'A', false], ['a?b', 'a/b', false], ['a*b', 'a/b', false],
    ['[\\]a]', ']', true], ['[\\-]', '-', true], ['[x\\-]', 'x', true], ['[x\\-]', '-', true], ['[x\\-]', 'z', false],
    ['[\\-x]', 'x', true], ['[\\-x]', '-', true], ['[\\-x]', 'a', false], ['[]a]', ']', 'bad'], ['[-]', '-', 'bad'],
    ['[x-]', 'x', 'bad'], ['[x-]', '-', 'bad'], ['[x-]', 'z', 'bad'], ['[-x]', 'x', 'bad'], ['[-x]', '-', 'bad'],
    ['[-x]', 'a', 'bad'], ['\\', 'a', 'bad'], ['[a-b-c]', 'a', 'bad'], ['[', 'a', 'bad'], ['[^', 'a', 'bad'],
    ['[^bc', 'a', 'bad'], ['a[', 'a', 'bad'], ['a[', 'ab', 'bad'], ['a[', 'x', 'bad'], ['a/b[', 'x', 'bad'], ['*x', 'xxx', true],
    // Not in Go's table, but what its byte-wise star does: it may stop inside a multi-byte
    // character, where `?` then takes one invalid byte.
    ['*??', '☺', true], ['[^a]/', '/', false], ['a[^b]c', 'a/c', true],
  ];
  it.each(GO)('Match(%j, %j) → %s', (pattern, name, expected) => {
    if (expected === 'bad') expect(() => goMatch(pattern, name)).toThrow(BadPatternError);
    else expect(goMatch(pattern, name)).toBe(expected);
  });

  it.each([
    ['', '.'], ['abc', 'abc'], ['a//b/./c/', 'a/b/c'], ['a/../..', '..'], ['../a/../../b', '../../b'],
    ['/../a', '/a'], ['/a/b/../../..', '/'], ['./', '.'], ['a/b/c/../../d', 'a/d'],
  ])('Clean(%j) = %j [go path/filepath Clean]', (path, cleaned) => {
    expect(goClean(path)).toBe(cleaned);
  });

  it('keeps a backslash literally in a source without wildcards, as BuildKit does', async () => {
    const ctx = await openContext(await fixture({ 'a\\*b': 'backslash', 'a*b': 'star' }), { xattrs: false });
    expect(await describeSources(await ctx.resolveSources(['a\\*b']))).toEqual(['a\\*b|file|/a\\*b']);
    expect(await describeSources(await ctx.resolveSources(['a[*]b']))).toEqual(['a*b|file|/a*b']);
  });

  it('a class can match "/" in a COPY wildcard, so deeper paths are searched', async () => {
    const ctx = await openContext(await fixture({ 'a/c': 'deep', 'abc': 'flat' }), { xattrs: false });
    expect(await describeSources(await ctx.resolveSources(['a[^b]c']))).toEqual(['c|file|/a/c']);
    expect(await describeSources(await ctx.resolveSources(['a?c']))).toEqual(['abc|file|/abc']);
  });
});
