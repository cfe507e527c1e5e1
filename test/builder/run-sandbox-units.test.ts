/**
 * The sandbox's small pieces, without namespaces: shell quoting (checked
 * against a real shell), fstab escaping, path resolution inside the root
 * file system, mount-point stubs, and the layer that releases its files.
 */
import { execFile } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SandboxError } from '../../src/sandbox/errors.js';
import { releasingLayer } from '../../src/sandbox/released-layer.js';
import { planStubs, resolveInRoot } from '../../src/sandbox/rootfs-paths.js';
import { fstab, fstabEscape, shellQuote } from '../../src/sandbox/script.js';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { UnionFS } from '../../src/unionfs/union.js';

const RUNS = Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 100);

/** Arbitrary text without NUL (which no argv or path can hold): ASCII, shell-special characters, some non-ASCII. */
const text = fc
  .string({ unit: fc.oneof(fc.constantFrom("'", '"', '\\', '$', '`', ' ', '\n', '\t', '!', '*', '#', 'é', '日', '🙂'), fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 })), maxLength: 40 })
  .map((s) => s.replace(/[\0\u0001]/g, ''));

function sh(script: string): Promise<string> {
  return new Promise((resolve, reject) => execFile('sh', ['-c', script], { maxBuffer: 1 << 24 }, (err, out) => (err ? reject(err) : resolve(out))));
}

/** fstab's decoding (libmount `unmangle`): `\ooo` octal escapes. */
function unescapeFstab(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

describe('shellQuote', () => {
  it('a real shell reads every quoted string back as it was', async () => {
    const values = fc.sample(text, RUNS);
    const script = values.map((v) => `printf '%s\\001' ${shellQuote(v)}`).join('\n');
    const out = await sh(script);
    expect(out.split('\u0001').slice(0, -1)).toEqual(values);
  });
});

describe('fstab escaping', () => {
  it('fields have no blanks and decode back to the value', () => {
    fc.assert(
      fc.property(text, (value) => {
        const escaped = fstabEscape(value);
        expect(escaped).not.toMatch(/[ \t\n]/);
        expect(unescapeFstab(escaped)).toBe(value);
      }),
      { numRuns: RUNS },
    );
  });

  it('writes one line of six fields per entry', () => {
    const text = fstab([{ source: '/a b', target: '/c\td', type: 'none', options: 'bind,ro' }]);
    expect(text).toBe('/a\\040b /c\\011d none bind,ro 0 0\n');
  });
});

const meta = { uid: 0, gid: 0, mtime: 1000, size: 0 };
function view(entries: Entry[]): Promise<UnionFS> {
  return UnionFS.open([entries]);
}
const dir = (path: string, mode = 0o755): Entry => ({ ...meta, path, type: 'dir', mode });
const link = (path: string, linkname: string): Entry => ({ ...meta, path, type: 'symlink', mode: 0o777, linkname });
const file = (path: string): Entry => ({ ...meta, path, type: 'file', mode: 0o644, size: 1, content: bytesSource(new Uint8Array([1])) });

describe('resolveInRoot', () => {
  it('follows symlinks inside the root, as under chroot', async () => {
    const fs = await view([dir('/etc'), dir('/run'), link('/etc/resolv.conf', '../run/resolv.conf'), link('/abs', '/etc'), link('/up', '../../../run'), file('/run/f')]);
    // `existing` holds the resolved ancestors only, not every directory the walk passed (/etc): a prefix of `path`.
    expect(await resolveInRoot(fs, '/etc/resolv.conf')).toEqual({ path: '/run/resolv.conf', type: undefined, existing: ['/', '/run'] });
    expect(await resolveInRoot(fs, '/etc/../new/x')).toEqual({ path: '/new/x', type: undefined, existing: ['/'] });
    expect((await resolveInRoot(fs, '/abs/x')).path).toBe('/etc/x');
    // `..` stops at the root.
    expect(await resolveInRoot(fs, '/up/f')).toMatchObject({ path: '/run/f', type: 'file' });
    expect(await resolveInRoot(fs, '/etc/../run')).toMatchObject({ path: '/run', type: 'dir' });
    // As for the kernel, a missing component fails even when `..` follows it.
    expect(await resolveInRoot(fs, '/a/../etc')).toMatchObject({ type: undefined });
  });

  it('refuses symlink loops', async () => {
    const fs = await view([link('/a', 'b'), link('/b', 'a')]);
    await expect(resolveInRoot(fs, '/a/x')).rejects.toBeInstanceOf(SandboxError);
  });
});

describe('planStubs', () => {
  it('shadows existing directories with their metadata and makes the missing ones', async () => {
    const fs = await view([{ ...dir('/etc', 0o750), uid: 3, gid: 4, mtime: 77 }, dir('/proc')]);
    const plan = await planStubs(fs, [
      { path: '/proc', kind: 'dir' },
      { path: '/etc/hosts', kind: 'file' },
      { path: '/run/secrets/token', kind: 'file' },
    ]);
    expect(plan.shadows).toEqual([{ path: '/etc', mode: 0o750, uid: 3, gid: 4, mtime: 77 }]);
    expect(plan.create).toEqual([
      { path: '/run', kind: 'dir' },
      { path: '/etc/hosts', kind: 'file' },
      { path: '/run/secrets', kind: 'dir' },
      { path: '/run/secrets/token', kind: 'file' },
    ]);
  });

  it('refuses a mount point below a file or of the wrong type', async () => {
    const fs = await view([file('/f'), dir('/d')]);
    await expect(planStubs(fs, [{ path: '/f/x', kind: 'dir' }])).rejects.toMatchObject({ code: 'SANDBOX_SETUP_FAILED' });
    await expect(planStubs(fs, [{ path: '/d', kind: 'file' }])).rejects.toMatchObject({ code: 'SANDBOX_SETUP_FAILED' });
  });
});

describe('releasingLayer', () => {
  it('frees its files after the first complete compressed pass, then refuses to stream', async () => {
    let freed = 0;
    const layer = releasingLayer(layerFromEntries([file('/a')]), async () => {
      freed++;
    });
    expect(await layer.diffId()).toMatch(/^sha256:/);
    for await (const chunk of layer.uncompressed()) void chunk;
    expect(freed).toBe(0);
    for await (const chunk of layer.compressed()) void chunk;
    expect(freed).toBe(1);
    expect(layer.released).toBe(true);
    expect(await layer.digest()).toMatch(/^sha256:/);
    const again = async () => {
      for await (const chunk of layer.compressed()) void chunk;
    };
    await expect(again()).rejects.toMatchObject({ code: 'LAYER_RELEASED' });
    await layer.release();
    expect(freed).toBe(1);
  });
});
