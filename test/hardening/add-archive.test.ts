/**
 * ADD of a gzip tar whose member climbs out (`../x`): BuildKit fails the
 * build, so does layerkit — with the archive and the member named — instead
 * of copying the archive as a plain file.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { BuildError } from '../../src/builder/errors.js';
import { ImageStore } from '../../src/image/store/store.js';
import { removeAll, scratch } from './helpers.js';

const cleanup: string[] = [];
afterEach(async () => removeAll(...cleanup.splice(0)));

/** A ustar archive of regular files, written by hand so that any name goes in as given. */
function tar(files: Array<[string, string]>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, text] of files) {
    const header = Buffer.alloc(512);
    const body = Buffer.from(text);
    header.write(name, 0, 100, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(body.length.toString(8).padStart(11, '0') + '\0', 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

describe('ADD of a hostile archive', () => {
  it.each([
    ['gzip', (b: Buffer) => gzipSync(b)],
    ['plain', (b: Buffer) => b],
  ])('a %s tar whose first member is ../x fails the build, naming archive and member', async (_kind, wrap) => {
    const [ctx, store] = [await scratch(), await scratch()];
    cleanup.push(ctx, store);
    await writeFile(join(ctx, 'evil.tar.gz'), wrap(tar([['../x', 'pwned\n'], ['ok', 'fine\n']])));
    const err = await build({ context: ctx, store, noCache: true, dockerfileText: 'FROM scratch\nADD evil.tar.gz /d/\n' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuildError);
    expect(err).toMatchObject({ code: 'ADD_INVALID_ARCHIVE', data: { path: 'evil.tar.gz', line: 2 } });
    expect((err as BuildError).message).toMatch(/cannot extract evil\.tar\.gz: .*"\.\.\/x"/);
    expect(await new ImageStore(store).list()).toEqual([]);
  });

  it('a gzip file that is not a tar is still copied as a file', async () => {
    const [ctx, store] = [await scratch(), await scratch()];
    cleanup.push(ctx, store);
    await writeFile(join(ctx, 'notes.gz'), gzipSync(Buffer.from('just text, no tar header here\n'.repeat(40))));
    const result = await build({ context: ctx, store, noCache: true, dockerfileText: 'FROM scratch\nADD notes.gz /d/\n' });
    expect(result.steps).toHaveLength(1);
  });
});
