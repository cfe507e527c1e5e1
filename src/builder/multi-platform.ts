/**
 * Multi-platform builds (`platforms: ['linux/amd64', 'linux/arm64']`): the
 * stages are built once per platform — each FROM resolving the base's image
 * for that platform — each image is pushed by digest, then one OCI image
 * index naming them all is put under every push target.
 *
 * RUN steps still run only on the host's platform (a RUN for another one is
 * `FOREIGN_PLATFORM_RUN`), so in practice a multi-platform build is one
 * whose stages COPY, ADD and set metadata. The result is never put in the
 * local store, which holds single-platform images.
 * @module
 */
import { canonicalJson } from '../image/json.js';
import { formatPlatform, hostPlatform, parsePlatform, platformMatches } from '../image/platform.js';
import { parseReference, parseTagReference } from '../image/reference.js';
import { ImageMediaType, type Platform } from '../image/types.js';
import { sha256 } from '../digest.js';
import { parseOutputSpec, type OutputSpec } from '../image/output-spec.js';
import { BuildError } from './errors.js';
import { pushTargets } from './deliver.js';
import type { BuildOptions, BuildResult } from './options.js';
import { registryClient } from './remote-base.js';

const parts = new WeakMap<BuildOptions, { repositories: string[] }>();

/** Set when `options` are one platform's share of a multi-platform build. */
export function platformPart(options: BuildOptions): { repositories: readonly string[] } | undefined {
  return parts.get(options);
}

/**
 * The platforms a build asks for: `platforms` (each parsed, duplicates
 * removed), else `platform` alone; empty for the default (the host's).
 *
 * @throws {@link BuildError} `INVALID_OPTION` for a bad platform, or `platform` and `platforms` together.
 */
export function requestedPlatforms(options: BuildOptions): Platform[] {
  if (options.platforms === undefined) return [];
  if (options.platform !== undefined) throw new BuildError('INVALID_OPTION', 'pass either `platform` or `platforms`, not both', { reason: 'platforms' });
  const out: Platform[] = [];
  for (const p of options.platforms) {
    let parsed: Platform;
    try {
      parsed = typeof p === 'string' ? parsePlatform(p) : { ...p };
    } catch (err) {
      throw new BuildError('INVALID_OPTION', `invalid platform ${JSON.stringify(p)}`, { reference: String(p) }, { cause: err });
    }
    if (!out.some((o) => platformMatches(o, parsed))) out.push(parsed);
  }
  if (out.length === 0) throw new BuildError('INVALID_OPTION', '`platforms` is empty', { reason: 'platforms' });
  return out;
}

/**
 * Builds each platform with `buildOne` and pushes the index. Only registry
 * pushes can hold the result; file exports, the store and `cacheTo` are
 * refused up front, before any work.
 */
export async function buildPlatforms(options: BuildOptions, platforms: Platform[], buildOne: (options: BuildOptions) => Promise<BuildResult>): Promise<BuildResult> {
  const started = Date.now();
  const outputs: OutputSpec[] = (options.output === undefined ? [] : Array.isArray(options.output) ? options.output : [options.output]).map((o: string | OutputSpec) => {
    try {
      return typeof o === 'string' ? parseOutputSpec(o) : o;
    } catch (err) {
      throw new BuildError('INVALID_OPTION', (err as Error).message, { reason: 'output' }, { cause: err });
    }
  });
  const files = outputs.filter((o) => !o.push);
  if (files.length > 0) {
    throw new BuildError('INVALID_OPTION', `a multi-platform build can only be pushed (an OCI index); type=${files[0]!.type} holds one image`, { reason: 'platforms' });
  }
  const cacheTo = options.cacheTo === undefined ? [] : Array.isArray(options.cacheTo) ? options.cacheTo : [options.cacheTo];
  if (cacheTo.length > 0) throw new BuildError('INVALID_OPTION', 'cacheTo is not supported with several platforms yet: export the cache from a single-platform build', { reason: 'platforms' });
  const tags = (options.tags === undefined ? [] : typeof options.tags === 'string' ? [options.tags] : [...options.tags]).map((t) => parseTagReference(t).canonical);
  const targets = pushTargets(options, outputs, tags);
  if (targets.length === 0) {
    throw new BuildError('INVALID_OPTION', 'a multi-platform build needs a push (--push with -t, or -o type=registry,name=…): the local store holds single-platform images', { reason: 'platforms' });
  }
  const repositories = [...new Set(targets.map((t) => parseReference(t.reference).name))];

  const results: BuildResult[] = [];
  for (const platform of platforms) {
    const one: BuildOptions = { ...options, platform, platforms: undefined };
    parts.set(one, { repositories });
    results.push(await buildOne(one));
  }
  const manifests = await Promise.all(
    results.map(async (r, i) => ({ mediaType: r.image.mediaType, digest: r.digest, size: (await r.image.rawManifest()).byteLength, platform: platforms[i]! })),
  );
  const index = canonicalJson('index', { schemaVersion: 2, mediaType: ImageMediaType.ociIndex, manifests });
  const digest = sha256(index);
  const pushed: BuildResult['pushed'] = [];
  for (const target of targets) {
    const host = parseReference(target.reference).domain;
    const access = options.registry;
    const client = target.insecure && (access === undefined || !('getManifest' in access))
      ? registryClient({ ...(access ?? {}), insecure: [...((access as { insecure?: string[] } | undefined)?.insecure ?? []), host] })
      : registryClient(access);
    try {
      await client.putManifest(target.reference, index, ImageMediaType.ociIndex);
    } catch (err) {
      throw new BuildError('PUSH_FAILED', `pushing the index to ${target.reference} failed: ${(err as Error).message}`, { reference: target.reference }, { cause: err });
    }
    pushed.push({ reference: target.reference, digest });
    options.onEvent?.({ type: 'export', kind: 'registry', destination: target.reference, digest });
  }
  // Each platform's new layers were staged in its build, gone by now: hand out the pushed images, read from the registry.
  const first = parseReference(targets[0]!.reference).name;
  const reader = registryClient(options.registry);
  const images = await Promise.all(results.map((r) => reader.getImage(`${first}@${r.digest}`)));
  const host = hostPlatform();
  const mainIndex = Math.max(0, platforms.findIndex((p) => platformMatches(host, p)));
  const main = { ...results[mainIndex]!, image: images[mainIndex]! };
  options.onEvent?.({ type: 'build-end', digest, imageId: main.imageId, durationMs: Date.now() - started });
  return {
    image: main.image,
    digest,
    imageId: main.imageId,
    tags,
    steps: results.flatMap((r, i) => r.steps.map((s) => ({ ...s, stage: `${formatPlatform(platforms[i]!)} ${s.stage}` }))),
    outputs,
    cache: mergeReports(results.map((r) => r.cache)),
    pushed,
    stored: false,
    platforms: results.map((r, i) => ({ platform: platforms[i]!, image: images[i]!, digest: r.digest, imageId: r.imageId })),
  };
}

function mergeReports(reports: BuildResult['cache'][]): BuildResult['cache'] {
  return {
    hits: reports.reduce((n, r) => n + r.hits, 0),
    misses: reports.reduce((n, r) => n + r.misses, 0),
    contextFilesRead: reports.reduce((n, r) => n + r.contextFilesRead, 0),
    contextFilesReused: reports.reduce((n, r) => n + r.contextFilesReused, 0),
    exports: reports.flatMap((r) => r.exports),
    writeErrors: reports.flatMap((r) => r.writeErrors),
  };
}
