import { describe, expect, it } from 'vitest';
import { sha256, type Digest } from '../../src/digest.js';
import { appendHistory, appendLayers, canonicalJson, emptyImage, type Image, type ImageConfig, type Manifest } from '../../src/image/index.js';
import type { Layer } from '../../src/layers/layer.js';
import { validateImage, type ImageProblemCode } from '../../src/testing/image.js';
import { layerOf } from './helpers.js';

const amd64 = { os: 'linux', architecture: 'amd64' };

/** A hand-made image whose getters say whatever the test wants. */
function fakeImage(parts: {
  manifest: Manifest;
  rawManifest?: Uint8Array;
  config: ImageConfig;
  rawConfig?: Uint8Array;
  layers: Layer[];
  digest?: Digest;
  configDigest?: Digest;
  mediaType?: string;
}): Image {
  const rawManifest = parts.rawManifest ?? canonicalJson('manifest', parts.manifest);
  const rawConfig = parts.rawConfig ?? canonicalJson('config', parts.config);
  return {
    mediaType: parts.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
    layers: async () => [...parts.layers],
    config: async () => structuredClone(parts.config),
    rawConfig: async () => rawConfig.slice(),
    configDigest: async () => parts.configDigest ?? sha256(rawConfig),
    manifest: async () => structuredClone(parts.manifest),
    rawManifest: async () => rawManifest.slice(),
    digest: async () => parts.digest ?? sha256(rawManifest),
  };
}

function codes(problems: Array<{ code: ImageProblemCode }>): ImageProblemCode[] {
  return [...new Set(problems.map((p) => p.code))].sort();
}

describe('validateImage', () => {
  it('passes a well-formed image with layers and empty-layer history', async () => {
    const image = appendHistory(appendLayers(emptyImage(amd64), layerOf({ '/a': 'A' }), layerOf({ '/b': 'B' })), { created_by: 'CMD x' });
    const report = await validateImage(image);
    expect(report.problems).toEqual([]);
    expect(report.layers).toHaveLength(2);
    expect(report.computed.digest).toBe(await image.digest());
  });

  it('reports every mismatch at once, not just the first', async () => {
    const good = appendLayers(emptyImage(amd64), layerOf({ '/a': 'A' }), layerOf({ '/b': 'B' }));
    const manifest = await good.manifest();
    const config = await good.config();
    const layers = await good.layers();
    // Break many things: wrong layer size, wrong second diffID, a history entry too many,
    // a claimed digest that is not the manifest's, config descriptor size off by one.
    manifest.layers[0]!.size += 1;
    manifest.config.size += 1;
    config.rootfs.diff_ids[1] = `sha256:${'0'.repeat(64)}`;
    config.history = [{}, {}, {}];
    const bad = fakeImage({ manifest, config, layers, digest: `sha256:${'9'.repeat(64)}` as Digest });
    const report = await validateImage(bad);
    expect(report.ok).toBe(false);
    expect(codes(report.problems)).toEqual(
      ['CONFIG_DIGEST_MISMATCH', 'CONFIG_SIZE_MISMATCH', 'HISTORY_COUNT_MISMATCH', 'LAYER_DIFF_ID_MISMATCH', 'LAYER_SIZE_MISMATCH', 'MANIFEST_DIGEST_MISMATCH'].sort(),
    );
    expect(report.problems.filter((p) => p.code === 'LAYER_SIZE_MISMATCH').every((p) => p.layer === 0)).toBe(true);
    expect(report.problems.filter((p) => p.code === 'LAYER_DIFF_ID_MISMATCH').every((p) => p.layer === 1)).toBe(true);
  });

  it('finds a layer count that disagrees between manifest, layers() and diff_ids', async () => {
    const good = appendLayers(emptyImage(amd64), layerOf({ '/a': 'A' }));
    const manifest = await good.manifest();
    const config = await good.config();
    const bad = fakeImage({ manifest, config, layers: [] });
    expect(codes((await validateImage(bad)).problems)).toEqual(['LAYER_COUNT_MISMATCH']);
    const config2 = structuredClone(config);
    config2.rootfs.diff_ids.push(config2.rootfs.diff_ids[0]!);
    delete config2.history;
    const manifest2 = structuredClone(manifest);
    manifest2.config = { ...manifest2.config, digest: sha256(canonicalJson('config', config2)), size: canonicalJson('config', config2).byteLength };
    const bad2 = fakeImage({ manifest: manifest2, config: config2, layers: await good.layers() });
    expect(codes((await validateImage(bad2)).problems)).toEqual(['DIFF_ID_COUNT_MISMATCH']);
  });

  it('recomputes layer bytes: a layer lying about its digest is caught by streaming it', async () => {
    const real = layerOf({ '/a': 'A' });
    const other = layerOf({ '/a': 'B' });
    const liar: Layer = {
      mediaType: real.mediaType,
      diffId: () => real.diffId(),
      digest: () => real.digest(),
      size: () => real.size(),
      uncompressed: () => other.uncompressed(),
      compressed: () => other.compressed(),
    };
    const image = appendLayers(emptyImage(amd64), liar);
    const report = await validateImage(image);
    expect(report.problems.map((p) => p.code)).toContain('LAYER_INVALID');
    expect(report.problems.some((p) => p.code === 'LAYER_DIGEST_MISMATCH' && p.layer === 0)).toBe(true);
    expect(report.problems.some((p) => p.code === 'LAYER_DIFF_ID_MISMATCH' && p.layer === 0)).toBe(true);
  });

  it('reports failing getters and mutable copies instead of throwing', async () => {
    const good = emptyImage(amd64);
    const config = await good.config();
    const shared = structuredClone(config);
    const leaky: Image = {
      ...fakeImage({ manifest: await good.manifest(), config, layers: [] }),
      config: async () => shared,
      layers: async () => {
        throw new Error('no layers today');
      },
    };
    const report = await validateImage(leaky);
    expect(codes(report.problems)).toEqual(['GETTER_FAILED', 'NOT_IMMUTABLE']);
  });

  it('checks media type and manifest parse', async () => {
    const good = emptyImage(amd64);
    const manifest = await good.manifest();
    const wrongType = fakeImage({ manifest, config: await good.config(), layers: [], mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
    expect(codes((await validateImage(wrongType)).problems)).toEqual(['MEDIA_TYPE_MISMATCH']);
    const garbage = fakeImage({ manifest, config: await good.config(), layers: [], rawManifest: new TextEncoder().encode('{"schemaVersion":1}') });
    expect(codes((await validateImage(garbage)).problems)).toContain('MANIFEST_INVALID');
  });
});
