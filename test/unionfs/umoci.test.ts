/**
 * Interop with umoci: the layer from `commit()`, unpacked by umoci on top of
 * the lower layers, must give the same tree as `materialize()` of the view.
 * The OCI image layout umoci reads (oci-layout, index.json, manifest, config,
 * blobs) is written by hand here.
 *
 * Skips with a reason when umoci is missing; fails under CI=true.
 * UNIONFS_UMOCI_RUNS=100 for a longer run.
 */
import { execFile } from 'node:child_process';
import fc from 'fast-check';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/digest.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import type { Layer } from '../../src/layers/layer.js';
import { lowerLayersArbitrary, observeFs, runUnionOp, unionOpsArbitrary } from '../../src/testing/unionfs.js';
import { UnionFS } from '../../src/unionfs/index.js';
import { hostView, isRoot, removeDir, requirement, tempDir, which } from './helpers.js';

const RUNS = Number(process.env.UNIONFS_UMOCI_RUNS ?? 5);
const umoci = await which('umoci');
const available = requirement('umoci interop test', umoci ? undefined : 'umoci not installed (Debian package umoci)');

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Writes an OCI image layout holding one image made of `layers`, tagged `latest`. */
async function writeLayout(dir: string, layers: Layer[]): Promise<void> {
  await fsp.mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const blob = async (bytes: Uint8Array) => {
    const digest = sha256(bytes);
    await fsp.writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
    return { digest, size: bytes.byteLength };
  };
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const descriptors = [];
  for (const layer of layers) descriptors.push({ mediaType: layer.mediaType, ...(await blob(await collect(layer.compressed()))) });
  const config = await blob(
    json({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: await Promise.all(layers.map((l) => l.diffId())) },
    }),
  );
  const manifest = await blob(
    json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: descriptors,
    }),
  );
  await fsp.writeFile(join(dir, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
  await fsp.writeFile(
    join(dir, 'index.json'),
    json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((done, fail) =>
    execFile(command, args, { timeout: 60_000 }, (err, _out, stderr) => (err ? fail(new Error(`${err.message}\n${stderr}`)) : done())),
  );
}

describe.runIf(available)('commit() interop with umoci', () => {
  it('umoci unpacking the lowers and the committed layer gives the materialized view', async () => {
    const options = { symlinkTargets: 'any' as const, owners: isRoot ? [0, 1, 1000] : [process.getuid?.() ?? 0] };
    await fc.assert(
      fc.asyncProperty(lowerLayersArbitrary(options), unionOpsArbitrary({ ...options, excludeOps: isRoot ? [] : ['chown', 'lchown'] }), async (entryLayers, ops) => {
        const work = await tempDir('unionfs-umoci-');
        try {
          const lowers = entryLayers.map((entries) => layerFromEntries(entries));
          const view = await UnionFS.open(lowers);
          for (const op of ops) await runUnionOp(view, op);
          await view.materialize(join(work, 'materialized'));
          const committed = await view.commit({ sourceDateEpoch: 1_700_000_000 });

          await writeLayout(join(work, 'layout'), [...lowers, committed]);
          await run(umoci!, ['raw', 'unpack', ...(isRoot ? [] : ['--rootless']), '--image', `${join(work, 'layout')}:latest`, join(work, 'rootfs')]);

          const observe = { owners: isRoot };
          expect(await observeFs(hostView(join(work, 'rootfs')), observe)).toEqual(await observeFs(hostView(join(work, 'materialized')), observe));
        } finally {
          await removeDir(work);
        }
      }),
      { numRuns: RUNS },
    );
  }, Math.max(60_000, RUNS * 5000));
});
