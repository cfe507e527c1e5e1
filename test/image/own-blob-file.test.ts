/**
 * Layers that name their own blob file (the builder's staged layers) reach
 * the store and OCI layouts by file: the store links it, a layout gets a
 * copy, and neither streams the layer again.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendLayers, emptyImage, ImageStore, readOciLayout, writeOciLayout } from '../../src/image/index.js';
import { OWN_BLOB_FILE, type Layer } from '../../src/layers/layer.js';
import { validateImage } from '../../src/testing/image.js';
import { brokenLayer, layerOf, tempDir } from './helpers.js';

/** `layer` with its blob written to `file`, announced as its own, and a blob stream that breaks if anything reads it. */
async function fileBacked(layer: Layer, file: string): Promise<Layer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of layer.compressed()) chunks.push(chunk);
  await writeFile(file, Buffer.concat(chunks), { mode: 0o600 });
  return { ...brokenLayer(layer, 'the blob was streamed although its file was named'), [OWN_BLOB_FILE]: file } as Layer;
}

describe('layers with their own blob file', () => {
  it('are linked into the store and copied into a layout, without being streamed', async () => {
    const dir = await tempDir();
    const staged = join(dir, 'staged-blob');
    const layer = await fileBacked(layerOf({ '/etc/motd': 'hello\n'.repeat(1000) }), staged);
    const image = appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), { layer, history: { created_by: 'COPY motd /etc/' } });
    const hex = (await layer.digest()).slice('sha256:'.length);

    const store = new ImageStore(join(dir, 'store'));
    await store.putImage(image, ['staged:1']);
    const inStore = join(store.root, 'blobs', 'sha256', hex);
    expect((await stat(inStore)).ino).toBe((await stat(staged)).ino);
    expect((await stat(inStore)).mode & 0o777).toBe(0o644);

    const layout = join(dir, 'layout');
    await writeOciLayout(layout, { image, refs: ['v1'] });
    const inLayout = join(layout, 'blobs', 'sha256', hex);
    expect((await stat(inLayout)).ino).not.toBe((await stat(staged)).ino);
    expect(Buffer.compare(await readFile(inLayout), await readFile(staged))).toBe(0);

    // Both read back as valid images, every layer verified against its digest.
    expect((await validateImage(await store.getImage('staged:1'))).problems).toEqual([]);
    expect((await validateImage(await readOciLayout(layout, 'v1'))).problems).toEqual([]);
  });

  it('a file of the wrong size is refused and nothing is stored', async () => {
    const dir = await tempDir();
    const staged = join(dir, 'staged-blob');
    const layer = await fileBacked(layerOf({ '/a': 'a'.repeat(5000) }), staged);
    await writeFile(staged, 'truncated');
    const image = appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), { layer, history: { created_by: 'COPY a /' } });
    const store = new ImageStore(join(dir, 'store'));
    await expect(store.putImage(image, ['bad:1'])).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await expect(store.getImage('bad:1')).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    await expect(stat(join(store.root, 'blobs', 'sha256', (await layer.digest()).slice(7)))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
