import { link } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/builder/errors.js';
import { buildText, CONTEXT_MTIME, layerMembers, readText, rootfs, treeSummary, writeContext } from './helpers.js';

const EPOCH = 1700000000;

async function tree(dockerfile: string, files: Parameters<typeof buildText>[1] = {}, options: Parameters<typeof buildText>[2] = {}) {
  const result = await buildText(dockerfile, files, options);
  return { result, tree: await rootfs(result.image), layers: await result.image.layers(), config: await result.image.config() };
}

async function failure(dockerfile: string, files: Parameters<typeof buildText>[1] = {}): Promise<BuildError> {
  const err = await buildText(dockerfile, files).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BuildError);
  return err as BuildError;
}

const files = {
  'a.txt': 'A',
  'b.txt': 'B',
  'c.md': 'C',
  'dir/f': 'F',
  'dir/sub/g': 'G',
  'dir/notes.md': 'N',
};

describe('COPY destination rules', () => {
  it.each([
    ['COPY a.txt /dst', { '/dst': 'file 0644 0:0' }],
    ['COPY a.txt /dst/', { '/dst': 'dir 0755 0:0', '/dst/a.txt': 'file 0644 0:0' }],
    ['COPY a.txt b.txt /dst/', { '/dst': 'dir 0755 0:0', '/dst/a.txt': 'file 0644 0:0', '/dst/b.txt': 'file 0644 0:0' }],
    ['COPY *.txt /d/', { '/d': 'dir 0755 0:0', '/d/a.txt': 'file 0644 0:0', '/d/b.txt': 'file 0644 0:0' }],
    ['COPY dir /d', { '/d': 'dir 0755 0:0', '/d/f': 'file 0644 0:0', '/d/notes.md': 'file 0644 0:0', '/d/sub': 'dir 0755 0:0', '/d/sub/g': 'file 0644 0:0' }],
    ['COPY dir/ /d/', { '/d': 'dir 0755 0:0', '/d/f': 'file 0644 0:0', '/d/notes.md': 'file 0644 0:0', '/d/sub': 'dir 0755 0:0', '/d/sub/g': 'file 0644 0:0' }],
    ['COPY a.txt /x/y/z', { '/x': 'dir 0755 0:0', '/x/y': 'dir 0755 0:0', '/x/y/z': 'file 0644 0:0' }],
  ])('%s', async (instruction, expected) => {
    const { tree: t } = await tree(`FROM scratch\n${instruction}\n`, files);
    expect(treeSummary(t)).toEqual(expected);
  });

  it('relative destinations are below WORKDIR; "." is the working directory itself', async () => {
    const { tree: t } = await tree('FROM scratch\nWORKDIR /w\nCOPY a.txt .\nCOPY b.txt rel/\nCOPY c.md file\n', files);
    expect(Object.keys(treeSummary(t))).toEqual(['/w', '/w/a.txt', '/w/file', '/w/rel', '/w/rel/b.txt']);
  });

  it('several sources need a directory destination ending in "/" (or an existing directory)', async () => {
    const err = await failure('FROM scratch\nCOPY a.txt b.txt /dst\n', files);
    expect(err.code).toBe('COPY_DEST_NOT_DIRECTORY');
    expect(err.data).toMatchObject({ line: 2, column: 1 });
    const ok = await tree('FROM scratch\nCOPY a.txt /dst/\nCOPY b.txt c.md /dst\n', files);
    expect(Object.keys(treeSummary(ok.tree))).toEqual(['/dst', '/dst/a.txt', '/dst/b.txt', '/dst/c.md']);
  });

  it('a wildcard matching nothing copies nothing (an empty step, no layer)', async () => {
    const { layers, config } = await tree('FROM scratch\nCOPY *.none /d/\n', files);
    // The destination directory is still created, as BuildKit creates it before copying.
    expect(layers).toHaveLength(1);
    expect((await layerMembers(layers[0]!)).map((m) => m.path)).toEqual(['/d']);
    expect(config.history?.[0]?.created_by).toBe('COPY *.none /d/ # buildkit');
  });

  it('a directory merges into an existing one; the existing directory keeps its mode', async () => {
    const { tree: t } = await tree('FROM scratch\nCOPY --chmod=700 a.txt /d/\nCOPY dir /d\n', files);
    expect(treeSummary(t)['/d']).toBe('dir 0700 0:0');
    expect(Object.keys(treeSummary(t))).toContain('/d/a.txt');
    expect(Object.keys(treeSummary(t))).toContain('/d/sub/g');
  });

  it('a file cannot replace a directory, nor a directory a file', async () => {
    const ctx = { ...files, 'other/sub': 'file named sub' };
    const fileOverDir = await failure('FROM scratch\nCOPY dir /d\nCOPY other /d\n', ctx);
    expect(fileOverDir.code).toBe('COPY_CONFLICT');
    expect(fileOverDir.message).toBe('cannot replace to directory /d/sub with file');
    expect(fileOverDir.data.line).toBe(3);
    const dirOverFile = await failure('FROM scratch\nCOPY other /d\nCOPY dir /d\n', ctx);
    expect(dirOverFile.code).toBe('COPY_CONFLICT');
    expect(dirOverFile.message).toBe('cannot copy to non-directory: /d/sub');
  });

  it('a destination path through a symlink of the image is followed', async () => {
    const ctx = await writeContext({ ...files, 'tree/lnk': { symlink: 'real' }, 'tree/real/.keep': '' });
    const { tree: t } = await tree('FROM scratch\nCOPY tree /\nCOPY a.txt /lnk/\nCOPY b.txt /lnk/sub/\n', {}, { context: ctx });
    const s = treeSummary(t);
    expect(s['/lnk']).toBe('symlink 0777 0:0 -> real');
    expect(s['/real/a.txt']).toBe('file 0644 0:0');
    expect(s['/real/sub/b.txt']).toBe('file 0644 0:0');
  });
});

describe('COPY flags', () => {
  it('--chown with numbers: a lone uid gives gid = uid; created parents get the owner', async () => {
    const { tree: t } = await tree('FROM scratch\nCOPY --chown=1000 a.txt /p/q/\nCOPY --chown=5:6 dir /d\n', files);
    const s = treeSummary(t);
    expect(s['/p']).toBe('dir 0755 1000:1000');
    expect(s['/p/q/a.txt']).toBe('file 0644 1000:1000');
    expect(s['/d/sub/g']).toBe('file 0644 5:6');
    expect(s['/d/sub']).toBe('dir 0755 5:6');
  });

  it('--chown with names reads the stage\'s /etc/passwd and /etc/group', async () => {
    const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n';
    const group = 'root:x:0:\nstaff:x:50:app\n';
    const ctx = { ...files, 'etc/passwd': passwd, 'etc/group': group };
    const { tree: t } = await tree('FROM scratch\nCOPY etc /etc\nCOPY --chown=app a.txt /a\nCOPY --chown=app:staff b.txt /b\nCOPY --chown=root:50 c.md /c\n', ctx);
    const s = treeSummary(t);
    expect(s['/a']).toBe('file 0644 1001:1002');
    expect(s['/b']).toBe('file 0644 1001:50');
    expect(s['/c']).toBe('file 0644 0:50');
    const err = await failure('FROM scratch\nCOPY etc /etc\nCOPY --chown=nobody a.txt /a\n', ctx);
    expect(err.code).toBe('UNKNOWN_USER');
    expect(err.data).toMatchObject({ line: 3, reference: 'nobody' });
    const noPasswd = await failure('FROM scratch\nCOPY --chown=app a.txt /a\n', files);
    expect(noPasswd.code).toBe('UNKNOWN_USER');
  });

  it('--chmod: octal for files, directories and created parents; symbolic relative to each mode', async () => {
    const ctx = await writeContext({ 'x.sh': { content: '#!/bin/sh', mode: 0o640 }, 'd/y': { content: 'y', mode: 0o600 } });
    const { tree: t } = await tree('FROM scratch\nCOPY --chmod=0751 x.sh /o/\nCOPY --chmod=u+x,go+r d /s\n', {}, { context: ctx });
    const s = treeSummary(t);
    expect(s['/o']).toBe('dir 0751 0:0');
    expect(s['/o/x.sh']).toBe('file 0751 0:0');
    expect(s['/s/y']).toBe('file 0744 0:0');
    const err = await failure('FROM scratch\nCOPY --chmod=99 a.txt /\n', files);
    expect(err.code).toBe('COPY_INVALID_OPTION');
    expect(err.message).toContain("invalid chmod parameter: '99'");
  });

  it('--exclude drops matching paths below a source', async () => {
    const { tree: t } = await tree('FROM scratch\nCOPY --exclude=*.md --exclude=sub dir /d\nCOPY --exclude=*.md * /all/\n', files);
    // A wildcard match is a source root, and roots are never excluded (BuildKit's copier checks
    // exclude patterns below each root): c.md stays, dir/notes.md goes.
    expect(Object.keys(treeSummary(t))).toEqual(['/all', '/all/a.txt', '/all/b.txt', '/all/c.md', '/all/f', '/all/sub', '/all/sub/g', '/d', '/d/f']);
  });

  it('--parents keeps source paths, below the context root or a /./ pivot', async () => {
    const ctx = { 'src/app/x.js': 'x', 'src/app/y.css': 'y', 'src/lib/z.js': 'z', 'top.txt': 't' };
    const { tree: t } = await tree('FROM scratch\nCOPY --parents src/app/x.js top.txt /out/\nCOPY --parents ./src/./**/*.js /piv/\n', ctx);
    expect(Object.keys(treeSummary(t))).toEqual([
      '/out',
      '/out/src',
      '/out/src/app',
      '/out/src/app/x.js',
      '/out/top.txt',
      '/piv',
      '/piv/app',
      '/piv/app/x.js',
      '/piv/lib',
      '/piv/lib/z.js',
    ]);
  });

  it('--link builds the layer without the parent: parents are fresh directories, not copies of the image\'s', async () => {
    const { layers } = await tree('FROM scratch\nCOPY --chmod=700 a.txt /app/\nCOPY b.txt /app/b\nCOPY --link c.md /app/c\n', files);
    const plain = await layerMembers(layers[1]!);
    const linked = await layerMembers(layers[2]!);
    expect(plain.map((m) => [m.path, m.mode])).toEqual([['/app', 0o700], ['/app/b', 0o644]]);
    expect(linked.map((m) => [m.path, m.mode, m.mtime])).toEqual([['/app', 0o755, EPOCH], ['/app/c', 0o644, CONTEXT_MTIME]]);
  });
});

describe('COPY sources', () => {
  it('keeps context mtimes, clamped to SOURCE_DATE_EPOCH', async () => {
    const late = await tree('FROM scratch\nCOPY a.txt /\n', files);
    expect((await layerMembers(late.layers[0]!))[0]!.mtime).toBe(CONTEXT_MTIME);
    const early = await tree('FROM scratch\nCOPY a.txt /\n', files, { sourceDateEpoch: 1000 });
    expect((await layerMembers(early.layers[0]!))[0]!.mtime).toBe(1000);
  });

  it('follows a symlink named as the source; keeps symlinks inside a copied directory', async () => {
    const ctx = await writeContext({ 'real.txt': 'R', 'ln': { symlink: 'real.txt' }, 'd/inner': { symlink: '../real.txt' } });
    const { tree: t } = await tree('FROM scratch\nCOPY ln /copied\nCOPY d /d\n', {}, { context: ctx });
    const s = treeSummary(t);
    expect(s['/copied']).toBe('file 0644 0:0');
    expect(s['/d/inner']).toBe('symlink 0777 0:0 -> ../real.txt');
    expect(await readText(t, '/copied')).toBe('R');
  });

  it('keeps hardlinks within one source', async () => {
    const ctx = await writeContext({ 'h/one': 'same' });
    await link(join(ctx, 'h/one'), join(ctx, 'h/two'));
    const { layers } = await tree('FROM scratch\nCOPY h /h\n', {}, { context: ctx });
    const members = await layerMembers(layers[0]!);
    expect(members.map((m) => [m.path, m.type, m.linkname])).toEqual([
      ['/h', 'dir', undefined],
      ['/h/one', 'file', undefined],
      ['/h/two', 'hardlink', '/h/one'],
    ]);
  });

  it('a missing source, or one outside the context, is a positioned error', async () => {
    const missing = await failure('FROM scratch\nCOPY a.txt /\n  COPY nope.txt /\n', files);
    expect(missing.code).toBe('COPY_SOURCE_NOT_FOUND');
    expect(missing.data).toMatchObject({ line: 3, column: 3, path: 'nope.txt' });
    const outside = await failure('FROM scratch\nCOPY ../x /\n', files);
    expect(outside.code).toBe('COPY_SOURCE_OUTSIDE_CONTEXT');
    expect(outside.data.line).toBe(2);
    const ctx = await writeContext({ 'esc': { symlink: '/etc/passwd' } });
    const escaped = await buildText('FROM scratch\nCOPY esc /\n', {}, { context: ctx }).catch((e: unknown) => e);
    expect(escaped).toBeInstanceOf(BuildError);
    expect((escaped as BuildError).code).toBe('COPY_SOURCE_OUTSIDE_CONTEXT');
  });

  it('heredocs: files named after the delimiter, expanded unless quoted', async () => {
    const { tree: t, config } = await tree(
      "FROM scratch\nARG WHO=world\nCOPY <<one <<'two' /h/\nhello $WHO\none\nraw $WHO\ntwo\n",
    );
    expect(await readText(t, '/h/one')).toBe('hello world\n');
    expect(await readText(t, '/h/two')).toBe('raw $WHO\n');
    expect(treeSummary(t)['/h/one']).toBe('file 0644 0:0');
    expect(config.history?.[1]?.created_by).toBe('COPY <<one <<two /h/ # buildkit');
  });
});
