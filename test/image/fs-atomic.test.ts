/**
 * Atomic file writes: the target holds the whole source or what it held
 * before, whatever the source's form, and a failing source leaves no
 * temporary file beside it.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placeFileAtomic, writeFileAtomic } from '../../src/image/fs-atomic.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'layerkit-atomic-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const piece = fc.oneof(fc.string({ unit: 'grapheme' }), fc.uint8Array({ maxLength: 64 }));

describe('writeFileAtomic', () => {
  it('writes the concatenation of any mix of strings and bytes, sync or async, durable or not', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 12 }), fc.boolean(), fc.boolean(), async (pieces, asyncSource, durable) => {
        const target = join(dir, 'out', `f${n++}`);
        const expected = Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
        const source = asyncSource ? (async function* () { yield* pieces; })() : pieces;
        await writeFileAtomic(target, source, { tmpDir: join(dir, 'tmp'), durable });
        expect(Buffer.compare(await readFile(target), expected)).toBe(0);
      }),
      { numRuns: 60 },
    );
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
  });

  it('leaves the old file and no temporary file when the source fails', async () => {
    const target = join(dir, 'kept');
    await writeFile(target, 'old');
    const failing = (async function* () {
      yield 'new, half';
      throw new Error('source broke');
    })();
    await expect(writeFileAtomic(target, failing, { tmpDir: join(dir, 'tmp2'), durable: false, hint: 'record' })).rejects.toThrow('source broke');
    expect(await readFile(target, 'utf8')).toBe('old');
    expect(await readdir(join(dir, 'tmp2'))).toEqual([]);
  });
});

describe('placeFileAtomic', () => {
  it('places a copy by default and a link when asked, with mode 0644 either way', async () => {
    const source = join(dir, 'staged');
    await writeFile(source, 'blob bytes', { mode: 0o600 });
    const copy = join(dir, 'placed', 'copy');
    const linked = join(dir, 'placed', 'linked');
    await placeFileAtomic(copy, source, { size: 10, what: 'blob', tmpDir: join(dir, 'tmp3') });
    await placeFileAtomic(linked, source, { size: 10, what: 'blob', tmpDir: join(dir, 'tmp3'), link: true });
    expect(await readFile(copy, 'utf8')).toBe('blob bytes');
    const [src, copied, link] = await Promise.all([stat(source), stat(copy), stat(linked)]);
    expect(copied.ino).not.toBe(src.ino);
    expect(link.ino).toBe(src.ino);
    expect(copied.mode & 0o777).toBe(0o644);
    expect(link.mode & 0o777).toBe(0o644);
    expect(await readdir(join(dir, 'tmp3'))).toEqual([]);
  });

  it('gives the placed file the mode writeFileAtomic would, umask included', async () => {
    const source = join(dir, 'staged-umask');
    await writeFile(source, 'secret layer', { mode: 0o600 });
    const old = process.umask(0o077);
    try {
      await placeFileAtomic(join(dir, 'placed', 'umask-copy'), source, { size: 12, what: 'blob', tmpDir: join(dir, 'tmp5') });
      await placeFileAtomic(join(dir, 'placed', 'umask-link'), source, { size: 12, what: 'blob', tmpDir: join(dir, 'tmp5'), link: true });
      await writeFileAtomic(join(dir, 'placed', 'umask-written'), 'x', { tmpDir: join(dir, 'tmp5') });
    } finally {
      process.umask(old);
    }
    const modes = await Promise.all(['umask-copy', 'umask-link', 'umask-written'].map(async (name) => (await stat(join(dir, 'placed', name))).mode & 0o777));
    expect(modes).toEqual([0o600, 0o600, 0o600]);
    expect(await readdir(join(dir, 'tmp5'))).toEqual([]);
  });

  it('refuses a file of another size and leaves neither target nor temporary file', async () => {
    const source = join(dir, 'short');
    await writeFile(source, 'abc');
    for (const link of [false, true]) {
      const target = join(dir, 'placed', `wrong-${link}`);
      await expect(placeFileAtomic(target, source, { size: 4, what: 'blob x', tmpDir: join(dir, 'tmp4'), link })).rejects.toMatchObject({
        code: 'DIGEST_MISMATCH',
        data: { what: 'blob x size', expected: '4', actual: '3' },
      });
      await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    }
    expect(await readdir(join(dir, 'tmp4'))).toEqual([]);
  });
});
