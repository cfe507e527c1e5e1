/**
 * Hostile layers (notes §5): each is extracted into a target inside a
 * sentinel directory; the test checks the typed error, that nothing outside
 * the target changed, and that the target is as it was before the call.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { link, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LayerkitError } from '../../src/errors.js';
import { LayerFormatError } from '../../src/layers/changes/errors.js';
import { DuplicatePathError, TarFormatError, UnsafePathError } from '../../src/layers/errors.js';
import { extractLayer, type ExtractOptions } from '../../src/layers/extract.js';
import { readTar } from '../../src/layers/tar/read.js';
import { encodeRawTar, rawTarArbitrary, type RawTarMember } from '../../src/testing/layers.js';
import { snapshotDir, tempDir } from './extract-helpers.js';

const RUNS = Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0);
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const text = (s: string) => new TextEncoder().encode(s);

interface Arena {
  sentinel: string;
  outside: string;
  target: string;
}

/** sentinel/{outside/{victim,dir/secret}, target/…}; `existing` fills the target for merge cases. */
async function arena(existing?: (target: string, outside: string) => Promise<void>): Promise<Arena> {
  const t = await tempDir('layerkit-hostile-');
  cleanups.push(t.cleanup);
  const outside = join(t.path, 'outside');
  await mkdir(join(outside, 'dir'), { recursive: true });
  await writeFile(join(outside, 'victim'), 'victim');
  await writeFile(join(outside, 'dir/secret'), 'secret');
  const target = join(t.path, 'target');
  if (existing) {
    await mkdir(target);
    await existing(target, outside);
    // Old directory mtimes, so that a rename left behind by a rollback would show.
    execFileSync('find', [target, '-type', 'd', '-exec', 'touch', '-d', '@1000000', '{}', '+']);
  }
  return { sentinel: t.path, outside, target };
}

async function state(a: Arena): Promise<unknown> {
  const names = (await readdir(a.sentinel)).sort();
  return {
    names,
    outside: await snapshotDir(a.outside),
    target: existsSync(a.target) ? await snapshotDir(a.target) : 'missing',
  };
}

async function* chunks(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** Extracts raw tar bytes; returns the error (or undefined) after checking that a failure left everything as it was. */
async function hostile(a: Arena, bytes: Uint8Array, options: ExtractOptions = {}): Promise<unknown> {
  const before = await state(a);
  let error: unknown;
  try {
    await extractLayer(readTar(chunks(bytes)), a.target, options);
  } catch (err) {
    error = err;
  }
  const after = await state(a);
  if (error) expect(after).toEqual(before);
  else expect((after as { outside: unknown }).outside).toEqual((before as { outside: unknown }).outside);
  expect((await readdir(a.sentinel)).filter((n) => n.includes('.layerkit-'))).toEqual([]);
  return error;
}

function expectError(err: unknown, type: abstract new (...args: never[]) => Error, code: string): void {
  expect(err).toBeInstanceOf(type);
  expect((err as LayerkitError).code).toBe(code);
}

const f = (name: string, data = 'x'): RawTarMember => ({ name, type: 'file', data: text(data) });

describe('hostile names', () => {
  it('refuses .. escapes, with the entry name', async () => {
    for (const name of ['../evil', 'a/../../evil', './../outside/victim']) {
      const a = await arena();
      const err = await hostile(a, encodeRawTar([f('ok'), f(name)]));
      expectError(err, UnsafePathError, 'UNSAFE_PATH');
      expect(JSON.stringify((err as UnsafePathError).data)).toContain(name);
    }
  });

  it('confines absolute and ////x names to the target, or refuses them on request', async () => {
    const a = await arena();
    expect(await hostile(a, encodeRawTar([f('/abs', 'a'), f('////x', 'x')]))).toBeUndefined();
    expect(await readFile(join(a.target, 'abs'), 'utf8')).toBe('a');
    expect(await readFile(join(a.target, 'x'), 'utf8')).toBe('x');
    const b = await arena();
    expectError(await hostile(b, encodeRawTar([f('/abs')]), { absoluteNames: 'reject' }), UnsafePathError, 'UNSAFE_PATH');
  });

  it('refuses .wh. oddities and duplicates', async () => {
    for (const name of ['.wh.', 'd/.wh..', 'd/.wh...', '.wh..wh.plnk']) {
      expectError(await hostile(await arena(), encodeRawTar([f(name, '')])), LayerFormatError, 'INVALID_WHITEOUT');
    }
    expectError(await hostile(await arena(), encodeRawTar([f('a'), f('./a')])), DuplicatePathError, 'DUPLICATE_PATH');
  });

  it('fails on a truncated archive, leaving a missing target missing and an existing one unchanged', async () => {
    const bytes = encodeRawTar([f('a', 'a'.repeat(3000)), f('b', 'b')]);
    for (const cut of [100, 700, 2000, bytes.length - 1024]) {
      expectError(await hostile(await arena(), bytes.subarray(0, cut)), TarFormatError, 'TAR_TRUNCATED');
      const existing = await arena(async (t) => writeFile(join(t, 'a'), 'old'));
      expectError(await hostile(existing, bytes.subarray(0, cut)), TarFormatError, 'TAR_TRUNCATED');
    }
  });
});

describe('hostile links', () => {
  it('never writes through a symlink from the same layer (CVE-2021-32803 family)', async () => {
    for (const members of [
      (o: string) => [{ name: 'l', type: 'symlink', linkname: o } as RawTarMember, f('l/pwned')],
      () => [{ name: 'l', type: 'symlink', linkname: '../outside' } as RawTarMember, f('l/victim', 'overwritten')],
      () => [{ name: 'x', type: 'dir' } as RawTarMember, { name: 'x', type: 'symlink', linkname: '../outside' } as RawTarMember, f('x/victim')],
      () => [{ name: 'l', type: 'symlink', linkname: '/' } as RawTarMember, { name: 'l/etc', type: 'dir' } as RawTarMember],
    ]) {
      const a = await arena();
      const err = await hostile(a, encodeRawTar(members(a.outside)));
      expect(err).toBeInstanceOf(LayerkitError);
      expect(['UNSAFE_PATH', 'DUPLICATE_PATH']).toContain((err as LayerkitError).code);
    }
  });

  it('refuses hardlinks out of the root, to nothing, and through symlinks', async () => {
    const a = await arena();
    expectError(await hostile(a, encodeRawTar([{ name: 'h', type: 'hardlink', linkname: '../outside/victim' }])), UnsafePathError, 'UNSAFE_PATH');
    // An absolute link target is read from the layer root: there is nothing there.
    expectError(await hostile(a, encodeRawTar([{ name: 'h', type: 'hardlink', linkname: join(a.outside, 'victim') }])), LayerFormatError, 'HARDLINK_TARGET_MISSING');
    const b = await arena(async (t, o) => symlink(o, join(t, 'l')));
    expectError(await hostile(b, encodeRawTar([{ name: 'h', type: 'hardlink', linkname: 'l/victim' }])), UnsafePathError, 'UNSAFE_PATH');
    // A hardlink to a path that comes later in the layer links to that entry.
    const c = await arena();
    expect(await hostile(c, encodeRawTar([{ name: 'h', type: 'hardlink', linkname: 'later' }, f('later', 'L')]))).toBeUndefined();
    expect(await readFile(join(c.target, 'h'), 'utf8')).toBe('L');
  });

  it('refuses whiteouts and opaque markers below a symlinked directory of the target', async () => {
    for (const name of ['l/.wh.victim', 'l/.wh..wh..opq', 'l/dir/.wh.secret']) {
      const a = await arena(async (t, o) => symlink(o, join(t, 'l')));
      expectError(await hostile(a, encodeRawTar([f(name, '')])), UnsafePathError, 'UNSAFE_PATH');
    }
  });

  it('refuses writing below a symlinked directory of the target, undoing what was already placed', async () => {
    const a = await arena(async (t, o) => {
      await mkdir(join(t, 'a'));
      await writeFile(join(t, 'a/old'), 'old');
      await writeFile(join(t, 'gone'), 'gone');
      await symlink(o, join(t, 'zz'));
    });
    const err = await hostile(a, encodeRawTar([{ name: 'a/', type: 'dir', mode: 0o700 }, f('a/new'), f('.wh.gone', ''), f('zz/victim', 'overwritten')]));
    expectError(err, UnsafePathError, 'UNSAFE_PATH');
  });

  it('replaces a symlink or a hardlinked file of the target instead of writing through it', async () => {
    const a = await arena(async (t, o) => {
      await symlink(join(o, 'victim'), join(t, 'l'));
      await link(join(o, 'victim'), join(t, 'hl'));
    });
    expect(await hostile(a, encodeRawTar([f('l', 'new l'), f('hl', 'new hl')]))).toBeUndefined();
    expect(await readFile(join(a.outside, 'victim'), 'utf8')).toBe('victim');
    expect(await readFile(join(a.target, 'hl'), 'utf8')).toBe('new hl');
  });
});

describe('generated hostile archives', () => {
  it('never touch anything outside the target; failures are typed and leave the target as it was', async () => {
    await fc.assert(
      fc.asyncProperty(rawTarArbitrary({ hostile: true }), fc.boolean(), async ({ bytes }, merge) => {
        const a = await arena(merge ? async (t, o) => {
          await mkdir(join(t, 'a'));
          await symlink(o, join(t, 'through'));
        } : undefined);
        const err = await hostile(a, bytes);
        if (err !== undefined) expect(err).toBeInstanceOf(LayerkitError);
      }),
      { numRuns: RUNS || 60 },
    );
  });
});
