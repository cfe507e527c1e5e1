/**
 * A full disk: `build`, `load` and `prune` on a store that lives on a small
 * tmpfs (mounted by the test) end with one typed line (NO_SPACE), remove
 * everything they staged, and release the store's lock.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import { ImageStore } from '../../src/image/store/store.js';
import { NoSpaceError } from '../../src/image/store/system-errors.js';
import { canMount, cli, crashed, removeAll, scratch, smallTmpfs } from './helpers.js';

const root = process.getuid?.() === 0;
let mount: { dir: string; unmount: () => Promise<void> } | undefined;
const cleanup: string[] = [];

beforeEach(async () => {
  if (root) mount = await smallTmpfs(8);
});
afterEach(async () => {
  await mount?.unmount();
  mount = undefined;
  await removeAll(...cleanup.splice(0));
});

/** Every file under `dir`, as paths relative to it. */
async function files(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const rel = prefix + entry.name;
    if (entry.isDirectory()) out.push(`${rel}/`, ...(await files(join(dir, entry.name), `${rel}/`)));
    else out.push(rel);
  }
  return out;
}

/** Fills the file system of `dir` with a file until the disk says no. */
async function fill(dir: string): Promise<void> {
  const handle = await open(join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(64 << 10, 1);
  try {
    for (;;) await handle.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close();
  }
}

/** The files a store holds besides its scratch registration (empty directories aside): nothing staged, no lock. */
async function leftovers(store: string): Promise<string[]> {
  return (await files(store)).filter((f) => !f.startsWith('tmp/.live') && !f.endsWith('/'));
}

describe('a full disk', () => {
  it('build: one NO_SPACE line, nothing staged left, lock free', async (t) => {
    if (!canMount('build on a full disk')) return t.skip();
    const store = join(mount!.dir, 'store');
    const ctx = await scratch();
    cleanup.push(ctx);
    await writeFile(join(ctx, 'big'), randomBytes(12 << 20));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
    const run = await cli(['build', '--no-run', '--progress', 'plain', '-t', 'big', '--store', store, ctx]);
    expect(run.code).toBe(1);
    expect(crashed(run.stderr)).toBe(false);
    expect(run.stderr).toMatch(/^layerkit build: .*no space left on device/m);
    expect(await leftovers(store)).toEqual([]);
    // The library says the same, typed.
    const err = await build({ context: ctx, store, tags: 'big' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoSpaceError);
    expect((err as NoSpaceError).code).toBe('NO_SPACE');
    expect(await leftovers(store)).toEqual([]);
  });

  it('load: one NO_SPACE line, no blob or temporary file left, lock free', async (t) => {
    if (!canMount('load on a full disk')) return t.skip();
    const [outside, ctx] = [await scratch(), await scratch()];
    cleanup.push(outside, ctx);
    await writeFile(join(ctx, 'big'), randomBytes(12 << 20));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY big /big\n');
    const source = join(outside, 'store');
    expect((await cli(['build', '--no-run', '-q', '-t', 'big', '--store', source, ctx])).code).toBe(0);
    expect((await cli(['save', '-o', join(outside, 'big.tar'), '--store', source, 'big'])).code).toBe(0);
    const store = join(mount!.dir, 'store');
    const run = await cli(['load', '-i', join(outside, 'big.tar'), '--store', store]);
    expect(run.code).toBe(1);
    expect(crashed(run.stderr)).toBe(false);
    expect(run.stderr).toMatch(/^layerkit load: .*no space left on device/m);
    expect((await leftovers(store)).filter((f) => f !== 'oci-layout')).toEqual([]);
  });

  it('prune: works on a disk that is full to the last byte, and leaves no lock', async (t) => {
    if (!canMount('prune on a full disk')) return t.skip();
    const store = join(mount!.dir, 'store');
    const ctx = await scratch();
    cleanup.push(ctx);
    await writeFile(join(ctx, 'a'), randomBytes(1 << 20));
    await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a /a\n');
    expect((await cli(['build', '--no-run', '-q', '-t', 'a', '--store', store, ctx])).code).toBe(0);
    expect((await cli(['rmi', '--store', store, 'a'])).code).toBe(0);
    await fill(mount!.dir);
    const run = await cli(['prune', '--store', store]);
    expect(crashed(run.stderr)).toBe(false);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Total reclaimed space: 1\.\d\dMB/);
    await expect(stat(join(store, 'lock'))).rejects.toMatchObject({ code: 'ENOENT' });
    // The next command is not held up by a lock.
    const started = Date.now();
    await new ImageStore(store, { timeoutMs: 2_000 }).gc();
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
