import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import * as tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { InvalidArchiveError } from '../../src/image/index.js';
import { collect } from '../../src/image/streams.js';
import { normalizeMemberName, TarArchive } from '../../src/image/tar-archive.js';
import { run, tempDir } from './helpers.js';

type Member = { name: string; data: Uint8Array } | { name: string; symlink: string } | { name: string; hardlink: string };

async function packTar(members: Member[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const m of members) {
    await new Promise<void>((resolve, reject) => {
      const cb = (e?: Error | null) => (e ? reject(e) : resolve());
      if ('data' in m) pack.entry({ name: m.name, size: m.data.byteLength }, Buffer.from(m.data), cb);
      else if ('symlink' in m) pack.entry({ name: m.name, type: 'symlink', linkname: m.symlink }, cb);
      else pack.entry({ name: m.name, type: 'link', linkname: m.hardlink }, cb);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function archiveOf(bytes: Uint8Array, name = 'a.tar'): Promise<TarArchive> {
  const path = join(await tempDir(), name);
  await writeFile(path, bytes);
  return TarArchive.open(path);
}

const segment = fc.stringMatching(/^[a-zA-Z0-9._-]{1,40}$/).filter((s) => s !== '.' && s !== '..');
const memberArb = fc.record({ path: fc.array(segment, { minLength: 1, maxLength: 5 }), data: fc.uint8Array({ maxLength: 3000 }) });

describe('TarArchive', () => {
  it('property: indexes every member (long names via PAX included) and reads back its bytes, plain or gzip', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(memberArb, { selector: (m) => m.path.join('/'), maxLength: 8 }), fc.boolean(), async (list, gz) => {
        const members = list.map((m) => ({ name: m.path.join('/'), data: m.data }));
        const bytes = await packTar(members);
        const archive = await archiveOf(gz ? gzipSync(bytes) : bytes, gz ? 'a.tar.gz' : 'a.tar');
        expect(archive.compressed).toBe(gz);
        expect(archive.members().map((m) => m.name)).toEqual(members.map((m) => m.name));
        for (const m of members) {
          const member = archive.file(m.name);
          expect(member?.size).toBe(m.data.byteLength);
          expect(Buffer.from(await collect(archive.open(member!)))).toEqual(Buffer.from(m.data));
        }
      }),
      { numRuns: 40 },
    );
  });

  it('reads GNU tar archives: long names (GNU L records), ./ prefixes, directories', async () => {
    const root = await tempDir();
    const long = 'd'.repeat(60) + '/' + 'f'.repeat(80);
    await mkdir(join(root, 'src', 'd'.repeat(60)), { recursive: true });
    await writeFile(join(root, 'src', long), 'long name');
    await writeFile(join(root, 'src', 'short'), 'short');
    await run('tar', ['--format=gnu', '-cf', join(root, 'gnu.tar'), '-C', join(root, 'src'), '.']);
    const archive = await TarArchive.open(join(root, 'gnu.tar'));
    expect(new TextDecoder().decode(await archive.read(long))).toBe('long name');
    expect(new TextDecoder().decode(await archive.read('./short'))).toBe('short');
    expect(archive.members().find((m) => m.name === 'd'.repeat(60))?.type).toBe('dir');
  });

  it('follows symlinks and hardlinks inside the archive, and stops on loops', async () => {
    const archive = await archiveOf(
      await packTar([
        { name: 'blobs/real', data: new Uint8Array([1, 2, 3]) },
        { name: 'x/layer.tar', symlink: '../blobs/real' },
        { name: 'abs', symlink: '/blobs/real' },
        { name: 'hard', hardlink: 'blobs/real' },
        { name: 'loop1', symlink: 'loop2' },
        { name: 'loop2', symlink: 'loop1' },
      ]),
    );
    for (const name of ['x/layer.tar', 'abs', 'hard']) expect(archive.file(name)?.name).toBe('blobs/real');
    expect(archive.file('loop1')).toBeUndefined();
    expect(archive.file('missing')).toBeUndefined();
    expect(await archive.read('missing')).toBeUndefined();
  });

  it('accepts a base-256 size field', async () => {
    const bytes = await packTar([{ name: 'f', data: new Uint8Array(700).fill(7) }]);
    const header = bytes.subarray(0, 512);
    header.fill(0, 124, 136);
    header[124] = 0x80;
    header.writeUInt32BE(700, 132);
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const archive = await archiveOf(bytes);
    expect(archive.file('f')?.size).toBe(700);
    expect((await collect(archive.open(archive.file('f')!))).every((b) => b === 7)).toBe(true);
  });

  it('rejects a bad checksum, a truncated header and oversized metadata with InvalidArchiveError', async () => {
    const bytes = await packTar([{ name: 'f', data: new Uint8Array(10) }]);
    const corrupt = Buffer.from(bytes);
    corrupt[0] = 0x41;
    await expect(archiveOf(corrupt)).rejects.toBeInstanceOf(InvalidArchiveError);
    await expect(archiveOf(bytes.subarray(0, 300))).rejects.toThrow(/truncated header/);
    const huge = Buffer.from(await packTar([{ name: 'f', data: new Uint8Array(1) }]));
    huge[156] = 0x78; // make it a PAX header, then claim 2 MiB (octal 10000000) of records
    huge.write('00010000000\0', 124, 'latin1');
    huge.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of huge.subarray(0, 512)) sum += b;
    huge.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    await expect(archiveOf(huge)).rejects.toThrow(/metadata entry/);
  });

  it('normalizes member names', () => {
    expect(normalizeMemberName('./a/b/')).toBe('a/b');
    expect(normalizeMemberName('/a//b')).toBe('a/b');
    expect(normalizeMemberName('a/../../b')).toBe('b');
    expect(normalizeMemberName('./')).toBe('');
  });
});
