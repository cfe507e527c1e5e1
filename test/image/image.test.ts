import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/digest.js';
import {
  appendHistory,
  appendLayers,
  emptyImage,
  hostPlatform,
  imageFromConfig,
  InvalidImageError,
  withConfig,
  withCreated,
  withManifestAnnotations,
  type Image,
  type ImageConfig,
} from '../../src/image/index.js';
import { emptyLayer } from '../../src/layers/from-entries.js';
import type { Entry } from '../../src/layers/entry.js';
import type { Layer } from '../../src/layers/layer.js';
import { validateImage } from '../../src/testing/image.js';
import { treeArbitrary } from '../../src/testing/layers.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { layerOf } from './helpers.js';

const amd64 = { os: 'linux', architecture: 'amd64' };
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function expectValid(image: Image): Promise<void> {
  const report = await validateImage(image);
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

describe('emptyImage', () => {
  it('is FROM scratch: no layers, no history, no created, the given platform', async () => {
    const image = emptyImage({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(await image.layers()).toEqual([]);
    const config = await image.config();
    expect(config).toEqual({ architecture: 'arm', os: 'linux', variant: 'v7', config: {}, rootfs: { type: 'layers', diff_ids: [] } });
    const manifest = await image.manifest();
    expect(manifest.layers).toEqual([]);
    expect(manifest.config.digest).toBe(sha256(await image.rawConfig()));
    expect(await image.digest()).toBe(sha256(await image.rawManifest()));
    expect(await image.configDigest()).toBe(manifest.config.digest);
    expect(image.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    await expectValid(image);
  });

  it('defaults to the host platform, in Go names', async () => {
    const config = await emptyImage().config();
    expect(config.os).toBe('linux');
    expect(config.architecture).toBe(hostPlatform().architecture);
    expect(config.architecture).not.toBe('x64');
  });
});

describe('appendLayers', () => {
  it('adds diffIDs, manifest descriptors and history in order', async () => {
    const a = layerOf({ '/a': 'A' });
    const b = layerOf({ '/b': 'B' });
    const image = appendLayers(emptyImage(amd64), { layer: a, history: { created_by: 'COPY a /a' } }, b);
    const config = await image.config();
    expect(config.rootfs.diff_ids).toEqual([await a.diffId(), await b.diffId()]);
    expect(config.history).toEqual([{ created_by: 'COPY a /a' }, {}]);
    const manifest = await image.manifest();
    expect(manifest.layers).toEqual([
      { mediaType: a.mediaType, digest: await a.digest(), size: await a.size() },
      { mediaType: b.mediaType, digest: await b.digest(), size: await b.size() },
    ]);
    expect(await image.layers()).toEqual([a, b]);
    await expectValid(image);
  });

  it('refuses a layer whose history says empty_layer, at once', () => {
    expect(() => appendLayers(emptyImage(amd64), { layer: emptyLayer, history: { empty_layer: true } })).toThrow(InvalidImageError);
  });

  it('keeps count(history with a layer) == layers when the base has layers but no history', async () => {
    const base = imageFromConfig(
      { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [await emptyLayer.diffId()] } },
      [emptyLayer],
    );
    const image = appendHistory(appendLayers(base, layerOf({ '/x': 'x' })), { created_by: 'CMD ["sh"]' });
    const config = await image.config();
    expect(config.history).toEqual([{}, {}, { created_by: 'CMD ["sh"]', empty_layer: true }]);
    await expectValid(image);
  });

  it('leaves the base image untouched', async () => {
    const base = emptyImage(amd64);
    const before = text(await base.rawManifest());
    const derived = appendLayers(base, layerOf({ '/a': 'A' }));
    await derived.digest();
    expect(text(await base.rawManifest())).toBe(before);
    expect(await derived.digest()).not.toBe(await base.digest());
  });

  it('lists Docker layer media types in a Docker manifest', async () => {
    const layer = layerOf({ '/a': 'A' });
    const docker = imageFromConfig(
      { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
      [],
      { mediaType: 'application/vnd.docker.distribution.manifest.v2+json' },
    );
    const image = appendLayers(docker, layer);
    const manifest = await image.manifest();
    expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(manifest.config.mediaType).toBe('application/vnd.docker.container.image.v1+json');
    expect(manifest.layers[0]?.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
    await expectValid(image);
  });
});

describe('appendHistory, withConfig, withCreated, withManifestAnnotations', () => {
  it('appendHistory marks entries empty_layer and adds no layer', async () => {
    const image = appendHistory(emptyImage(amd64), { created_by: 'ENV A=1' }, { created_by: 'WORKDIR /w', empty_layer: false });
    const config = await image.config();
    expect(config.history).toEqual([
      { created_by: 'ENV A=1', empty_layer: true },
      { created_by: 'WORKDIR /w', empty_layer: true },
    ]);
    expect(await image.layers()).toEqual([]);
    await expectValid(image);
  });

  it('withConfig merges a partial: top level replaced, config member by member, undefined deletes', async () => {
    const base = withConfig(emptyImage(amd64), { author: 'a', config: { Env: ['A=1'], Cmd: ['sh'], User: 'u' } });
    const image = withConfig(base, { config: { Cmd: ['bash'], User: undefined }, author: undefined });
    const config = await image.config();
    expect(config.config).toEqual({ Env: ['A=1'], Cmd: ['bash'] });
    expect(config.author).toBeUndefined();
  });

  it('withConfig takes a function over a copy', async () => {
    const image = withConfig(emptyImage(amd64), (c) => {
      c.config = { ...c.config, WorkingDir: '/app', ExposedPorts: { '80/tcp': {} } };
    });
    expect((await image.config()).config).toEqual({ WorkingDir: '/app', ExposedPorts: { '80/tcp': {} } });
    const replaced = withConfig(emptyImage(amd64), (c): ImageConfig => ({ ...c, author: 'me' }));
    expect((await replaced.config()).author).toBe('me');
  });

  it('withConfig cannot change rootfs or break the history invariant', async () => {
    expect(() => withConfig(emptyImage(amd64), { rootfs: { type: 'layers', diff_ids: [] } } as never)).toThrow(InvalidImageError);
    const sneaky = withConfig(emptyImage(amd64), (c) => {
      c.rootfs.diff_ids.push(`sha256:${'0'.repeat(64)}`);
    });
    await expect(sneaky.digest()).rejects.toThrow(InvalidImageError);
    const badHistory = withConfig(appendLayers(emptyImage(amd64), layerOf({ '/a': 'a' })), (c) => {
      c.history = [{ created_by: 'x', empty_layer: true }];
    });
    await expect(badHistory.config()).rejects.toThrow(/history has 0 entries with a layer but rootfs has 1/);
  });

  it('withCreated formats a Date as Go does and checks strings', async () => {
    expect((await withCreated(emptyImage(amd64), new Date(0)).config()).created).toBe('1970-01-01T00:00:00Z');
    expect((await withCreated(emptyImage(amd64), '2024-05-01T12:00:00+02:00').config()).created).toBe('2024-05-01T12:00:00+02:00');
    expect(() => withCreated(emptyImage(amd64), 'yesterday')).toThrow(InvalidImageError);
  });

  it('withManifestAnnotations sets and deletes manifest annotations', async () => {
    const a = withManifestAnnotations(emptyImage(amd64), { 'org.example.a': '1', 'org.example.b': '2' });
    const b = withManifestAnnotations(a, { 'org.example.a': undefined });
    expect((await b.manifest()).annotations).toEqual({ 'org.example.b': '2' });
    await expectValid(b);
  });

  it('hands out copies: changing them changes nothing', async () => {
    const image = appendLayers(emptyImage(amd64), layerOf({ '/a': 'A' }));
    const config = await image.config();
    config.rootfs.diff_ids.length = 0;
    const manifest = await image.manifest();
    manifest.layers.length = 0;
    const raw = await image.rawConfig();
    raw.fill(0);
    (await image.layers()).length = 0;
    expect((await image.config()).rootfs.diff_ids).toHaveLength(1);
    expect((await image.manifest()).layers).toHaveLength(1);
    expect(sha256(await image.rawConfig())).toBe(await image.configDigest());
    expect(await image.layers()).toHaveLength(1);
  });

  it('memoizes: a layer is asked for its digests once however often the image is asked', async () => {
    const inner = layerOf({ '/a': 'A' });
    let calls = 0;
    const counting: Layer = {
      mediaType: inner.mediaType,
      diffId: () => inner.diffId(),
      digest: () => {
        calls++;
        return inner.digest();
      },
      size: () => inner.size(),
      uncompressed: () => inner.uncompressed(),
      compressed: () => inner.compressed(),
    };
    const image = appendLayers(emptyImage(amd64), counting);
    await Promise.all([image.digest(), image.manifest(), image.rawManifest(), image.digest()]);
    expect(calls).toBe(1);
  });

  it('an error is memoized too and surfaces on every getter', async () => {
    const broken: Layer = {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      diffId: () => Promise.reject(new Error('disk on fire')),
      digest: () => Promise.reject(new Error('disk on fire')),
      size: () => Promise.resolve(1),
      uncompressed: () => (async function* () {})(),
      compressed: () => (async function* () {})(),
    };
    const image = appendLayers(emptyImage(amd64), broken);
    await expect(image.digest()).rejects.toThrow('disk on fire');
    await expect(image.config()).rejects.toThrow('disk on fire');
  });
});

describe('determinism', () => {
  const historyArb = fc.record({ created_by: fc.string({ maxLength: 20 }), comment: fc.string({ maxLength: 10 }) }, { requiredKeys: [] });
  const buildArb = fc.record({
    trees: fc.array(treeArbitrary({ maxEntries: 4, maxFileSize: 64, xattrs: false, specialFiles: false }), { minLength: 0, maxLength: 3 }),
    histories: fc.array(historyArb, { maxLength: 3 }),
    env: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
    labels: fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
    created: fc.date({ min: new Date(0), max: new Date(4102444800000), noInvalidDate: true }),
  });

  interface BuildInput {
    trees: Entry[][];
    histories: Array<{ created_by?: string; comment?: string }>;
    env: string[];
    labels: Record<string, string>;
    created: Date;
  }

  function build(input: BuildInput, reverseLabels: boolean): Image {
    let image = emptyImage(amd64);
    input.trees.forEach((entries, i) => {
      const layer = layerFromEntries(entries, { level: 1, parallel: false });
      image = appendLayers(image, { layer, history: input.histories[i] ?? {} });
    });
    image = appendHistory(image, ...input.histories);
    const labels = Object.fromEntries(reverseLabels ? Object.entries(input.labels).reverse() : Object.entries(input.labels));
    image = withConfig(image, { config: { Env: input.env, Labels: labels } });
    return withCreated(image, input.created);
  }

  it('property: the same build twice gives the same digests, whatever the insertion order', async () => {
    await fc.assert(
      fc.asyncProperty(buildArb, async (input) => {
        const a = build(input, false);
        const b = build(input, true);
        expect(await b.digest()).toBe(await a.digest());
        expect(await b.configDigest()).toBe(await a.configDigest());
        expect(text(await b.rawConfig())).toBe(text(await a.rawConfig()));
        const report = await validateImage(a, { layers: false });
        expect(report.problems).toEqual([]);
      }),
      { numRuns: 25 },
    );
  });
});
