// Shared helpers of the interop tests (not a test file itself): external tools and a minimal OCI layout.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Layer } from '../../src/layers/layer.js';
import { collect } from './tar-helpers.js';

/** True when `name` runs; a missing tool is an error under CI and a printed skip otherwise. */
export function tool(name: string, versionArg = '--version'): boolean {
  const r = spawnSync(name, [versionArg], { encoding: 'utf8' });
  const ok = !r.error && (name !== 'tar' || r.stdout.includes('GNU tar'));
  if (!ok && process.env.CI) throw new Error(`${name} missing (required under CI)`);
  if (!ok) console.warn(`skipping ${name} interop: ${name} not found`);
  return ok;
}

/** Runs a command; throws with its stderr when it exits non-zero. Returns stdout. */
export function run(cmd: string, args: string[], options: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/**
 * A minimal OCI image layout holding the given layers (base first) under the
 * tag `test`, written by hand (the image module is not needed for this).
 * Checks on the way that each layer's blob hashes to its digest.
 */
export async function ociLayout(dir: string, ...layers: Layer[]): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (bytes: Uint8Array): string => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(blobs, hex), bytes);
    return `sha256:${hex}`;
  };
  const descriptors = [];
  const diffIds = [];
  for (const layer of layers) {
    const digest = put(await collect(layer.compressed()));
    if (digest !== (await layer.digest())) throw new Error(`blob digest ${digest} differs from layer.digest()`);
    descriptors.push({ mediaType: layer.mediaType, digest, size: await layer.size() });
    diffIds.push(await layer.diffId());
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: layers.map(() => ({ created_by: 'layerkit test' })),
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length },
      layers: descriptors,
    }),
  );
  const index = {
    schemaVersion: 2,
    manifests: [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: put(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'test' } },
    ],
  };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}
