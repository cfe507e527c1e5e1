// The build cache through a registry: one store exports it with
// `cacheTo: type=registry`, a second, empty store imports it with
// `cacheFrom: type=registry` and rebuilds with every step CACHED and the same
// image digest. Spec parsing and the format's shape are checked too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheError } from '../../src/builder/cache/errors.js';
import { CACHE_ARTIFACT_TYPE, CACHE_CONFIG_MEDIA_TYPE } from '../../src/builder/cache/layout.js';
import { parseRegistryCacheFrom, parseRegistryCacheTo } from '../../src/builder/cache/registry-cache.js';
import { RegistryClient } from '../../src/registry/index.js';
import { buildText, freshStore } from './helpers.js';
import { hasRegistry, startRegistry, type RunningRegistry as TestRegistry } from '../registry/helpers.js';

describe('registry cache specs', () => {
  it('parses buildx spellings; mode defaults to min', () => {
    expect(parseRegistryCacheTo('type=registry,ref=localhost:5000/app:cache,mode=max')).toEqual({ type: 'registry', ref: 'localhost:5000/app:cache', mode: 'max', ignoreError: false });
    expect(parseRegistryCacheTo('type=registry,ref=localhost:5000/app')).toMatchObject({ ref: 'localhost:5000/app:latest', mode: 'min' });
    expect(parseRegistryCacheFrom('type=registry,ref=localhost:5000/app:cache,ignore-error=true')).toEqual({ type: 'registry', ref: 'localhost:5000/app:cache', ignoreError: true });
  });

  it.each([
    ['type=registry', /ref= is required/],
    ['type=registry,ref=Bad/Name', /ref:/],
    ['type=registry,ref=x,mode=all', /mode must be min or max/],
    ['type=registry,ref=x,dest=y', /unknown attribute "dest"/],
  ])('rejects %s', (spec, reason) => {
    let caught: unknown;
    try {
      parseRegistryCacheTo(spec);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CacheError);
    expect((caught as CacheError).code).toBe('CACHE_INVALID_SPEC');
    expect((caught as CacheError).message).toMatch(reason);
  });
});

const enabled = hasRegistry();
const describeRegistry = describe.runIf(enabled);

describeRegistry('the build cache in a registry', () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startRegistry();
  }, 30_000);

  afterAll(async () => {
    await registry?.stop();
  });

  const DOCKERFILE = 'FROM scratch AS deps\nCOPY deps.txt /deps/\nFROM scratch\nWORKDIR /app\nCOPY --from=deps /deps /deps\nCOPY src/ ./src/\nENV MODE=prod\nCOPY main.txt .\nLABEL built=yes\n';
  const FILES = { 'deps.txt': 'deps\n', 'src/a.txt': 'a\n', 'src/b.txt': 'b\n', 'main.txt': 'main\n' };

  it('a second, empty store rebuilds from the registry cache with every step CACHED and the same digest', async () => {
    const ref = `${registry.host}/app/cache:main`;
    const first = await buildText(DOCKERFILE, FILES, { store: await freshStore(), cacheTo: `type=registry,ref=${ref},mode=max` });
    expect(first.cache.exports).toHaveLength(1);
    expect(first.cache.exports[0]).toMatchObject({ dest: ref });
    expect(first.steps.some((s) => s.cached)).toBe(false);

    // The format: an OCI artifact manifest, records in its config blob, the cached layers as its layers.
    const client = new RegistryClient();
    const manifest = JSON.parse(new TextDecoder().decode((await client.getManifest(ref)).bytes)) as {
      artifactType: string;
      config: { mediaType: string };
      layers: Array<{ digest: string; annotations: Record<string, string> }>;
    };
    expect(manifest.artifactType).toBe(CACHE_ARTIFACT_TYPE);
    expect(manifest.config.mediaType).toBe(CACHE_CONFIG_MEDIA_TYPE);
    const layerDigests = await Promise.all((await first.image.layers()).map((l) => l.digest()));
    for (const digest of layerDigests) expect(manifest.layers.map((l) => l.digest)).toContain(digest);

    const second = await buildText(DOCKERFILE, FILES, { store: await freshStore(), cacheFrom: `type=registry,ref=${ref}` });
    expect(second.steps.map((s) => `${s.instruction}: ${s.cached}`)).toEqual(first.steps.map((s) => `${s.instruction}: true`));
    expect(second.digest).toBe(first.digest);
    expect(second.cache.misses).toBe(0);

    // A changed source misses that step and those after it in its stage, not the others.
    const third = await buildText(DOCKERFILE, { ...FILES, 'main.txt': 'changed\n' }, { store: await freshStore(), cacheFrom: `type=registry,ref=${ref}` });
    const missed = third.steps.filter((s) => !s.cached).map((s) => s.instruction);
    expect(missed).toEqual(['COPY main.txt .', 'LABEL built=yes']);
  }, 90_000);

  it('mode=min exports only the final stage\'s chain; a missing ref imports nothing; a non-cache ref is CACHE_INVALID_LAYOUT', async () => {
    const ref = `${registry.host}/app/cache:min`;
    const min = await buildText(DOCKERFILE, FILES, { cacheTo: `type=registry,ref=${ref}` });
    const max = await buildText(DOCKERFILE, FILES, { cacheTo: `type=registry,ref=${registry.host}/app/cache:max,mode=max` });
    expect(min.cache.exports[0]!.records).toBeLessThan(max.cache.exports[0]!.records);
    const none = await buildText(DOCKERFILE, FILES, { cacheFrom: `type=registry,ref=${registry.host}/app/cache:nothing` });
    expect(none.steps.every((s) => !s.cached)).toBe(true);
    // An ordinary image is not a cache.
    await buildText('FROM scratch\nCOPY main.txt /\n', FILES, { output: `type=registry,name=${registry.host}/app/image:1` });
    await expect(buildText(DOCKERFILE, FILES, { cacheFrom: `type=registry,ref=${registry.host}/app/image:1` })).rejects.toMatchObject({ code: 'CACHE_INVALID_LAYOUT' });
    const ignored = await buildText(DOCKERFILE, FILES, { cacheFrom: `type=registry,ref=${registry.host}/app/image:1,ignore-error=true` });
    expect(ignored.steps.every((s) => !s.cached)).toBe(true);
  }, 90_000);
});
