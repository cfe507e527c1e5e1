/**
 * zstd images end to end: written by an exporter (`compression=zstd`) and by
 * the build API, read back by layerkit, by skopeo (which decompresses them
 * to recompress) and by umoci where it supports zstd; a zstd base image
 * (ours or skopeo's) builds on, from a layout and through `load`.
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadImages } from '../../src/image/store/import.js';
import { readOciLayout } from '../../src/image/layout.js';
import { parseOutputSpec } from '../../src/image/output-spec.js';
import { mediaTypeCompression } from '../../src/layers/compress/media-types.js';
import { buildText, freshStore, readText, rootfs, tempDir, treeSummary, writeContext } from '../builder/helpers.js';
import { tool } from '../layers/interop-helpers.js';

const ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** The layer media types of the image tagged `tag` in an OCI layout directory. */
async function layoutLayerTypes(dir: string, tag: string): Promise<string[]> {
  const image = await readOciLayout(dir, tag);
  return (await image.manifest()).layers.map((l) => l.mediaType);
}

function sh(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const hasSkopeo = tool('skopeo');
const hasUmoci = tool('umoci');

describe('output specs: compression', () => {
  it('parses compression= and compression-level= for type=oci and refuses them elsewhere or out of range', () => {
    expect(parseOutputSpec('type=oci,dest=o,compression=zstd')).toMatchObject({ compression: 'zstd' });
    expect(parseOutputSpec('type=oci,dest=o,compression=gzip,compression-level=1')).toMatchObject({ compression: 'gzip', compressionLevel: 1 });
    expect(() => parseOutputSpec('type=oci,dest=o,compression=brotli')).toThrow(/compression must be gzip, zstd or uncompressed/);
    expect(() => parseOutputSpec('type=docker,dest=o.tar,compression=zstd')).toThrow(/type=oci only/);
    expect(() => parseOutputSpec('type=oci,dest=o,compression=zstd,compression-level=22')).toThrow(/out of range/);
    expect(() => parseOutputSpec('type=oci,dest=o,compression-level=10')).toThrow(/out of range/);
  });
});

describe('zstd images', () => {
  it('a build exported with compression=zstd: every layer +zstd, read back by layerkit with the same diffIDs and files', async () => {
    const dir = await tempDir();
    const layout = join(dir, 'zl');
    const base = await buildText('FROM scratch\nCOPY a.txt /a.txt\nCOPY b /b\n', { 'a.txt': 'A', 'b/c.txt': 'C' }, {
      output: [`type=oci,dest=${layout},tar=false,name=base:1,compression=zstd`, `type=oci,dest=${join(dir, 'gl')},tar=false,name=base:1`],
    });
    expect(await layoutLayerTypes(layout, '1')).toEqual([ZSTD, ZSTD]);
    expect(await layoutLayerTypes(join(dir, 'gl'), '1')).toEqual([GZIP, GZIP]);
    const back = await readOciLayout(layout, '1');
    // The config is kept: same image ID, same diffIDs; the manifest names other blobs.
    expect(await back.configDigest()).toBe(await base.image.configDigest());
    expect(await back.digest()).not.toBe(await base.image.digest());
    const tree = await rootfs(back);
    expect(treeSummary(tree)).toEqual(treeSummary(await rootfs(base.image)));
    expect(await readText(tree, '/b/c.txt')).toBe('C');
  });

  it('the build API writes zstd layers (compression option) that the store keeps and gives back', async () => {
    const built = await buildText('FROM scratch\nCOPY a.txt /a.txt\n', { 'a.txt': 'zstd through the API' }, { tags: ['z:1'], compression: { compression: 'zstd' } });
    expect((await built.image.manifest()).layers.map((l) => l.mediaType)).toEqual([ZSTD]);
    const stored = await built.store.getImage('z:1');
    expect((await stored.manifest()).layers.map((l) => l.mediaType)).toEqual([ZSTD]);
    expect(await readText(await rootfs(stored), '/a.txt')).toBe('zstd through the API');
  });

  it('FROM a zstd base (an OCI layout) + COPY builds on: base layer kept as zstd, the new one gzip', async () => {
    const dir = await tempDir();
    const layout = join(dir, 'zl');
    await buildText('FROM scratch\nCOPY a.txt /base.txt\nENV FROM_BASE=1\n', { 'a.txt': 'BASE' }, { output: `type=oci,dest=${layout},tar=false,name=base:1,compression=zstd` });
    const child = await buildText(`FROM oci-layout://${layout}:1\nCOPY b.txt /child.txt\n`, { 'b.txt': 'CHILD' });
    expect((await child.image.manifest()).layers.map((l) => l.mediaType)).toEqual([ZSTD, GZIP]);
    expect((await child.image.config()).config?.Env).toContain('FROM_BASE=1');
    const tree = await rootfs(child.image);
    expect(await readText(tree, '/base.txt')).toBe('BASE');
    expect(await readText(tree, '/child.txt')).toBe('CHILD');
  });

  it('load of an OCI layout tar with zstd layers stores the image; a build FROM the stored image works', async () => {
    const dir = await tempDir();
    const archive = join(dir, 'z.tar');
    const base = await buildText('FROM scratch\nCOPY a.txt /a.txt\n', { 'a.txt': 'LOADED' }, { output: `type=oci,dest=${archive},name=zbase:1,compression=zstd` });
    const store = await freshStore();
    const result = await loadImages(store, archive);
    expect(result.images.map((i) => i.id)).toEqual([await base.image.configDigest()]);
    const stored = await store.getImage('zbase:1');
    expect((await stored.manifest()).layers.map((l) => l.mediaType)).toEqual([ZSTD]);
    const child = await buildText('FROM zbase:1\nCOPY b.txt /b.txt\n', { 'b.txt': 'B' }, { store });
    const tree = await rootfs(child.image);
    expect(await readText(tree, '/a.txt')).toBe('LOADED');
    expect(await readText(tree, '/b.txt')).toBe('B');
  });

  it('layerkit build -o type=oci,…,compression=zstd (the real program) writes zstd layers', async () => {
    const dir = await tempDir();
    const context = await writeContext({ Dockerfile: 'FROM scratch\nCOPY a.txt /a.txt\n', 'a.txt': 'CLI' });
    const layout = join(dir, 'out');
    const repo = resolve(import.meta.dirname, '../..');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, 'src/cli/main.ts'), 'build', '--store', join(dir, 'store'), '-t', 'cli:1', '-o', `type=oci,dest=${layout},tar=false,name=cli:1,compression=zstd`, context], { cwd: repo, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(await layoutLayerTypes(layout, '1')).toEqual([ZSTD]);
    expect(await readText(await rootfs(await readOciLayout(layout, '1')), '/a.txt')).toBe('CLI');
  });

  it.runIf(hasSkopeo)('skopeo decompresses our zstd layers (recompressing them to gzip) to the tar our config names', async () => {
    const dir = await tempDir();
    const layout = join(dir, 'zl');
    // Over 4 MiB: the layer is several zstd frames.
    const big = 'layerkit zstd frames\n'.repeat(300_000);
    const base = await buildText('FROM scratch\nCOPY big.txt /big.txt\n', { 'big.txt': big }, { output: `type=oci,dest=${layout},tar=false,name=base:1,compression=zstd` });
    const out = join(dir, 'skopeo-gzip');
    const r = sh('skopeo', ['copy', '--dest-compress', '--dest-compress-format', 'gzip', `oci:${layout}:1`, `oci:${out}:1`]);
    expect(r.status, r.out).toBe(0);
    expect(await layoutLayerTypes(out, '1')).toEqual([GZIP]);
    // layerkit verifies each gzip blob against the diffID that our config names.
    const theirs = await readOciLayout(out, '1');
    expect(await theirs.configDigest()).toBe(await base.image.configDigest());
    expect(await readText(await rootfs(theirs), '/big.txt')).toBe(big);
  });

  it.runIf(hasSkopeo)('skopeo-written zstd layers are read: a base image skopeo recompressed to zstd builds on', async () => {
    const dir = await tempDir();
    const gzipLayout = join(dir, 'gl');
    await buildText('FROM scratch\nCOPY a.txt /a.txt\n', { 'a.txt': 'FROM SKOPEO' }, { output: `type=oci,dest=${gzipLayout},tar=false,name=base:1` });
    const zstdLayout = join(dir, 'zl');
    const r = sh('skopeo', ['copy', '--dest-compress', '--dest-compress-format', 'zstd', `oci:${gzipLayout}:1`, `oci:${zstdLayout}:1`]);
    expect(r.status, r.out).toBe(0);
    const types = await layoutLayerTypes(zstdLayout, '1');
    expect(types.map(mediaTypeCompression)).toEqual(['zstd']);
    const child = await buildText(`FROM oci-layout://${zstdLayout}:1\nCOPY b.txt /b.txt\n`, { 'b.txt': 'B' });
    const tree = await rootfs(child.image);
    expect(await readText(tree, '/a.txt')).toBe('FROM SKOPEO');
  });

  it.runIf(hasUmoci)('umoci unpacks our zstd layers where it supports zstd (0.4.7 refuses the media type by name)', async () => {
    const dir = await tempDir();
    const layout = join(dir, 'zl');
    await buildText('FROM scratch\nCOPY a.txt /a.txt\n', { 'a.txt': 'UMOCI' }, { output: `type=oci,dest=${layout},tar=false,name=base:1,compression=zstd` });
    const bundle = join(dir, 'bundle');
    const r = sh('umoci', ['unpack', '--rootless', '--image', `${layout}:1`, bundle]);
    if (r.status !== 0) {
      // Refused for the media type, not for the bytes: nothing else is acceptable.
      expect(r.out).toContain(`not correct mediatype: ${ZSTD}`);
      console.warn(`umoci ${sh('umoci', ['--version']).out.trim()} does not read zstd layers: ${r.out.trim()}`);
      return;
    }
    expect(await readFile(join(bundle, 'rootfs', 'a.txt'), 'utf8')).toBe('UMOCI');
  });
});
