import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../src/builder/errors.js';
import type { Fetcher } from '../../src/builder/options.js';
import { sha256 } from '../../src/digest.js';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { writeTar } from '../../src/layers/tar/write.js';
import { buildText, exec, layerMembers, readText, rootfs, treeSummary, which, writeContext } from './helpers.js';

async function tarBytes(entries: Entry[]): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of writeTar(entries)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const text = (path: string, body: string, extra: Partial<Entry> = {}): Entry => {
  const bytes = new TextEncoder().encode(body);
  return { path, type: 'file', mode: 0o640, uid: 7, gid: 8, mtime: 1234, size: bytes.byteLength, content: bytesSource(bytes), ...extra };
};

async function archiveContext(): Promise<string> {
  const tar = await tarBytes([
    { path: '/pkg', type: 'dir', mode: 0o750, uid: 7, gid: 8, mtime: 1000, size: 0 },
    text('/pkg/readme', 'hi'),
    { path: '/pkg/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 1000, size: 0, linkname: 'readme' },
    { path: '/pkg/hard', type: 'hardlink', mode: 0o640, uid: 7, gid: 8, mtime: 1234, size: 0, linkname: '/pkg/readme' },
    text('/deep/a/b', 'b'),
  ]);
  const ctx = await writeContext({ 'plain.txt': 'not an archive' });
  await writeFile(join(ctx, 'app.tar'), tar);
  await writeFile(join(ctx, 'app.tar.gz'), gzipSync(tar));
  return ctx;
}

describe('ADD of local archives', () => {
  it('extracts plain and gzip tars with the archive\'s modes, owners and times', async () => {
    const ctx = await archiveContext();
    for (const name of ['app.tar', 'app.tar.gz']) {
      const result = await buildText(`FROM scratch\nADD ${name} /opt\n`, {}, { context: ctx });
      const tree = await rootfs(result.image);
      expect(treeSummary(tree)).toEqual(expectedUnder('/opt'));
      expect(await readText(tree, '/opt/pkg/hard')).toBe('hi');
      const members = await layerMembers((await result.image.layers())[0]!);
      expect(members.find((m) => m.path === '/opt/pkg/readme')?.mtime).toBe(1234);
      // The archive links hard → readme; in the layer the first name in path order holds the
      // content and the other links to it, so tar readers meet the file before the link.
      expect(members.find((m) => m.path === '/opt/pkg/hard')).toMatchObject({ type: 'file', text: 'hi' });
      expect(members.find((m) => m.path === '/opt/pkg/readme')).toMatchObject({ type: 'hardlink', linkname: '/opt/pkg/hard' });
    }
  });

  it('--chown applies to extracted entries; --unpack=false and non-archives copy the file', async () => {
    const ctx = await archiveContext();
    const result = await buildText('FROM scratch\nADD --chown=1:2 app.tar /x/\nADD --unpack=false app.tar /raw/\nADD plain.txt /p\n', {}, { context: ctx });
    const s = treeSummary(await rootfs(result.image));
    expect(s['/x/pkg/hard']).toBe('file 0640 1:2');
    expect(s['/x/deep/a/b']).toBe('file 0640 1:2');
    expect(s['/x']).toBe('dir 0755 1:2');
    expect(s['/raw/app.tar']).toBe('file 0644 0:0');
    expect(s['/p']).toBe('file 0644 0:0');
  });

  it('refuses archives it cannot decode and members that escape', async () => {
    const ctx = await archiveContext();
    if (await which('bzip2')) {
      await exec('sh', ['-c', `bzip2 -k ${join(ctx, 'app.tar')}`]);
      const err = await buildText('FROM scratch\nADD app.tar.bz2 /opt/\n', {}, { context: ctx }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BuildError);
      expect((err as BuildError).code).toBe('ADD_INVALID_ARCHIVE');
      expect((err as BuildError).message).toContain('bzip2');
      const asFile = await buildText('FROM scratch\nADD --unpack=false app.tar.bz2 /opt/\n', {}, { context: ctx });
      expect(Object.keys(treeSummary(await rootfs(asFile.image)))).toEqual(['/opt', '/opt/app.tar.bz2']);
    }
    // A member climbing above the root: built by hand, since our writer refuses such names.
    const header = new Uint8Array(1536);
    const name = new TextEncoder().encode('../escape');
    header.set(name, 0);
    header.set(new TextEncoder().encode('0000644\0'), 100);
    header.set(new TextEncoder().encode('0000000\0'), 108);
    header.set(new TextEncoder().encode('0000000\0'), 116);
    header.set(new TextEncoder().encode('00000000000\0'), 124);
    header.set(new TextEncoder().encode('00000000000\0'), 136);
    header[156] = 0x30;
    header.set(new TextEncoder().encode('ustar\x0000'), 257);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
    header.set(new TextEncoder().encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
    await writeFile(join(ctx, 'evil.tar'), header);
    const evil = await buildText('FROM scratch\nADD evil.tar /opt/\n', {}, { context: ctx }).catch((e: unknown) => e);
    expect(evil).toBeInstanceOf(BuildError);
    expect((evil as BuildError).code).toBe('ADD_INVALID_ARCHIVE');
    expect((evil as BuildError).data.line).toBe(2);
  });
});

function expectedUnder(prefix: string): Record<string, string> {
  return {
    [prefix]: 'dir 0755 0:0',
    [`${prefix}/deep`]: 'dir 0755 0:0',
    [`${prefix}/deep/a`]: 'dir 0755 0:0',
    [`${prefix}/deep/a/b`]: 'file 0640 7:8',
    [`${prefix}/pkg`]: 'dir 0750 7:8',
    [`${prefix}/pkg/hard`]: 'file 0640 7:8',
    [`${prefix}/pkg/link`]: 'symlink 0777 0:0 -> readme',
    // A tree walk names a hardlink group by its first path: `hard` comes before `readme`.
    [`${prefix}/pkg/readme`]: `hardlink 0640 7:8 -> ${prefix}/pkg/hard`,
  };
}

describe('ADD of URLs', () => {
  const body = new TextEncoder().encode('downloaded');
  const fetcher: Fetcher = async (url) => {
    if (!url.startsWith('https://example.test/')) throw new Error('unexpected url');
    return { data: body, mtime: 1600000000 };
  };

  it('goes through the fetcher: the file is named after the URL path, mode 0600, Last-Modified as mtime', async () => {
    const result = await buildText('FROM scratch\nADD https://example.test/files/tool.sh /bin/\nADD https://example.test/ /x/\n', {}, { fetcher });
    const members = (await Promise.all((await result.image.layers()).map(layerMembers))).flat();
    expect(members.find((m) => m.path === '/bin/tool.sh')).toMatchObject({ mode: 0o600, mtime: 1600000000, text: 'downloaded' });
    expect(members.find((m) => m.path === '/x/__unnamed__')).toBeDefined();
  });

  it('names the file after the decoded path\'s last element, so encoded slashes cannot climb out', async () => {
    const result = await buildText(
      'FROM scratch\nADD https://example.test/a%2F..%2F..%2Fetc%2Fpasswd /app/\nADD https://example.test/dir/..%2F.. /up/\nADD https://example.test/x/my%20tool.sh /t/\n',
      {},
      { fetcher },
    );
    const paths = (await Promise.all((await result.image.layers()).map(layerMembers))).flat().map((m) => m.path);
    expect(paths).toContain('/app/passwd');
    expect(paths).toContain('/up/__unnamed__');
    expect(paths).toContain('/t/my tool.sh');
    expect(paths.filter((p) => p.startsWith('/etc'))).toEqual([]);
  });

  it('--checksum is verified; no fetcher, git sources and COPY of a URL are typed errors', async () => {
    const good = sha256(body);
    await buildText(`FROM scratch\nADD --checksum=${good} https://example.test/a /a\n`, {}, { fetcher });
    const bad = await buildText(`FROM scratch\nADD --checksum=sha256:${'0'.repeat(64)} https://example.test/a /a\n`, {}, { fetcher }).catch((e: unknown) => e);
    expect((bad as BuildError).code).toBe('ADD_CHECKSUM_MISMATCH');
    expect((bad as BuildError).data).toMatchObject({ expected: `sha256:${'0'.repeat(64)}`, actual: good, line: 2 });
    const none = await buildText('FROM scratch\nADD https://example.test/a /a\n').catch((e: unknown) => e);
    expect((none as BuildError).code).toBe('ADD_URL_NO_FETCHER');
    expect((none as BuildError).message).toContain('fetcher');
    const git = await buildText('FROM scratch\nADD https://github.com/moby/buildkit.git /src\n', {}, { fetcher }).catch((e: unknown) => e);
    expect((git as BuildError).code).toBe('ADD_GIT_UNSUPPORTED');
    const copy = await buildText('FROM scratch\nCOPY https://example.test/a /a\n', {}, { fetcher }).catch((e: unknown) => e);
    expect((copy as BuildError).code).toBe('COPY_INVALID_OPTION');
  });
});
