/**
 * Containers: isolation between containers of one image (a property over
 * random layers and operations), lower layers that never change, and the
 * `docker cp` / `diff` / `commit` / `export` operations.
 */
import fc from 'fast-check';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256Stream } from '../../src/digest.js';
import { bytesSource, type Entry } from '../../src/layers/entry.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { readTar } from '../../src/layers/tar/read.js';
import { lowerLayersArbitrary, observeFs, runUnionOp, unionOpsArbitrary } from '../../src/testing/unionfs.js';
import { Container, UnionFS } from '../../src/unionfs/index.js';
import { removeDir, tempDir } from './helpers.js';

const RUNS = Number(process.env.UNIONFS_RUNS ?? 25);

describe('containers of one image', () => {
  it('diverge without interference, and the image layers never change', async () => {
    const options = { symlinkTargets: 'any' as const };
    await fc.assert(
      fc.asyncProperty(
        lowerLayersArbitrary(options),
        unionOpsArbitrary(options),
        unionOpsArbitrary(options),
        fc.boolean(),
        async (entryLayers, opsA, opsB, commitMidway) => {
          const layers = entryLayers.map((entries) => layerFromEntries(entries));
          const digestsBefore = await Promise.all(entryLayers.map((e) => layerFromEntries(e).diffId()));
          const a = await Container.create(layers);
          const b = await Container.create(layers);
          expect(a.fs.lowers).toBe(b.fs.lowers);
          const image = a.fs.lowers;
          const initial = await observeFs(new UnionFS(image));

          // Interleave the two sequences; each container must end as if it had run alone.
          for (let i = 0; i < Math.max(opsA.length, opsB.length); i++) {
            if (opsA[i]) await runUnionOp(a.fs, opsA[i]!);
            if (opsB[i]) await runUnionOp(b.fs, opsB[i]!);
            if (commitMidway && i === 2) await a.commit();
          }
          const aloneA = await Container.create(layers);
          for (const op of opsA) await runUnionOp(aloneA.fs, op);
          const aloneB = await Container.create(layers);
          for (const op of opsB) await runUnionOp(aloneB.fs, op);
          expect(await observeFs(a.fs)).toEqual(await observeFs(aloneA.fs));
          expect(await observeFs(b.fs)).toEqual(await observeFs(aloneB.fs));

          expect(await observeFs(new UnionFS(image))).toEqual(initial);
          const digestsAfter = await Promise.all(entryLayers.map((e) => layerFromEntries(e).diffId()));
          expect(digestsAfter).toEqual(digestsBefore);
          for (const [i, layer] of layers.entries()) expect((await sha256Stream(layer.uncompressed())).digest).toBe(digestsBefore[i]);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

const meta = { uid: 0, gid: 0, mtime: 1_700_000_000, size: 0 };
const image: Entry[] = [
  { ...meta, path: '/app', type: 'dir', mode: 0o755 },
  { ...meta, path: '/app/main.js', type: 'file', mode: 0o644, size: 2, content: bytesSource(Buffer.from('v1')) },
  { ...meta, path: '/etc', type: 'dir', mode: 0o755 },
  { ...meta, path: '/link', type: 'symlink', mode: 0o777, linkname: '/app' },
];

describe('docker cp', () => {
  it('copies a host file or directory in with docker cp rules, owned by root', async () => {
    const host = await tempDir();
    try {
      await fsp.writeFile(join(host, 'config.json'), '{}', { mode: 0o640 });
      await fsp.mkdir(join(host, 'assets'));
      await fsp.writeFile(join(host, 'assets', 'logo.svg'), '<svg/>');
      await fsp.symlink('logo.svg', join(host, 'assets', 'icon.svg'));
      const c = await Container.create([image]);

      await c.copyIn(join(host, 'config.json'), '/app'); // into an existing directory
      await c.copyIn(join(host, 'config.json'), '/etc/app.json'); // to a new name
      await c.copyIn(join(host, 'assets'), '/srv'); // a directory to a new path: becomes it
      await c.copyIn(join(host, 'assets'), '/link'); // into a directory through a symlink of the container
      await c.copyIn(join(host, 'assets') + '/.', '/etc'); // the directory's content only

      expect(await c.fs.readFile('/app/config.json', 'utf8')).toBe('{}');
      const st = await c.fs.stat('/etc/app.json');
      expect([st.mode & 0o777, st.uid, st.gid]).toEqual([0o640, 0, 0]);
      expect(await c.fs.readdir('/srv')).toEqual(['icon.svg', 'logo.svg']);
      expect(await c.fs.readlink('/srv/icon.svg')).toBe('logo.svg');
      expect(await c.fs.readdir('/app/assets')).toEqual(['icon.svg', 'logo.svg']);
      expect(await c.fs.readdir('/etc')).toEqual(['app.json', 'icon.svg', 'logo.svg']);
      await expect(c.copyIn(join(host, 'assets'), '/app/main.js')).rejects.toMatchObject({ code: 'ENOTDIR' });
      await expect(c.copyIn(join(host, 'config.json'), '/missing/')).rejects.toMatchObject({ code: 'ENOENT' });
      expect(c.diff()).toContainEqual({ kind: 'add', path: '/srv/logo.svg' });
    } finally {
      await removeDir(host);
    }
  });

  it('copies out of the container with the same rules', async () => {
    const host = await tempDir();
    try {
      const c = await Container.create([image]);
      await c.fs.writeFile('/app/extra.txt', 'x');
      await c.copyOut('/app', join(host, 'out')); // new path: becomes the directory
      await c.copyOut('/app', host); // existing directory: goes into it
      await c.copyOut('/app/main.js', join(host, 'main-copy.js'));
      await fsp.mkdir(join(host, 'only'));
      await c.copyOut('/app/.', join(host, 'only'));
      expect((await fsp.readdir(join(host, 'out'))).sort()).toEqual(['extra.txt', 'main.js']);
      expect((await fsp.readdir(join(host, 'app'))).sort()).toEqual(['extra.txt', 'main.js']);
      expect(await fsp.readFile(join(host, 'main-copy.js'), 'utf8')).toBe('v1');
      expect((await fsp.readdir(join(host, 'only'))).sort()).toEqual(['extra.txt', 'main.js']);
      await expect(c.copyOut('/nope', host)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await removeDir(host);
    }
  });
});

describe('diff, commit, export', () => {
  it('commit returns the layer and the config changes it was given; export is the flattened tree', async () => {
    const c = await Container.create([image]);
    await c.fs.writeFile('/app/main.js', 'v2');
    await c.fs.rm('/etc', { recursive: true });
    expect(c.diff()).toEqual([
      { kind: 'modify', path: '/app' },
      { kind: 'modify', path: '/app/main.js' },
      { kind: 'delete', path: '/etc' },
    ]);
    const { layer, changes } = await c.commit({ changes: { Cmd: ['node', '/app/main.js'] }, sourceDateEpoch: 0 });
    expect(changes).toEqual({ Cmd: ['node', '/app/main.js'] });
    expect(c.diff()).toEqual([]);
    const names: string[] = [];
    for await (const { entry } of readTar(layer.uncompressed())) names.push(entry.path);
    expect(names).toEqual(['/.wh.etc', '/app', '/app/main.js']);

    const exported = new Map<string, string>();
    for await (const { entry, body } of readTar(c.export())) {
      const chunks: Uint8Array[] = [];
      for await (const chunk of body) chunks.push(chunk);
      exported.set(entry.path, entry.type === 'file' ? Buffer.concat(chunks).toString() : entry.type);
    }
    expect(Object.fromEntries(exported)).toEqual({ '/app': 'dir', '/app/main.js': 'v2', '/link': 'symlink' });
  });

  it('materialize and fromDirectory round-trip a view; syncFromDirectory records exactly what changed on disk', async () => {
    const root = await tempDir();
    try {
      const view = await UnionFS.open([image]);
      await view.materialize(join(root, 'rootfs'));
      // As an ordinary user the materialized files are the caller's: read them back as root's, as a rootless runtime maps them.
      const asRoot = { owner: { uid: 0, gid: 0 } };
      const copy = await UnionFS.fromDirectory(join(root, 'rootfs'), asRoot);
      expect(await observeFs(copy)).toEqual(await observeFs(view));

      await fsp.writeFile(join(root, 'rootfs', 'app', 'main.js'), 'v3');
      await fsp.rm(join(root, 'rootfs', 'etc'), { recursive: true });
      await fsp.mkdir(join(root, 'rootfs', 'tmp'));
      await view.syncFromDirectory(join(root, 'rootfs'), asRoot);
      expect(view.changes()).toEqual([
        { kind: 'modify', path: '/app' },
        { kind: 'modify', path: '/app/main.js' },
        { kind: 'delete', path: '/etc' },
        { kind: 'add', path: '/tmp' },
      ]);
      expect(await observeFs(view)).toEqual(await observeFs(await UnionFS.fromDirectory(join(root, 'rootfs'), asRoot)));
    } finally {
      await removeDir(root);
    }
  });
});
