/**
 * Registry transfers against skopeo, over loopback to a real Distribution
 * registry (Debian's docker-registry) the bench starts:
 *
 * - `registry.push-200mb-vs-skopeo`: a 200 MB, 10-layer image from the local
 *   store (`push`) against `skopeo copy oci:LAYOUT docker://…` of the same image.
 * - `registry.pull-200mb-vs-skopeo`: `pull` into an empty store against
 *   `skopeo copy docker://… oci:DIR`.
 *
 * Each timed push goes to a fresh, empty registry (new storage, new port), so
 * neither side finds a blob already there nor mounts one it pushed before.
 *
 * Before every timed call the page cache is written out (`sync`, untimed).
 * skopeo never fsyncs, so without that the 200 MB it leaves dirty are written
 * back during whichever call comes next — and a pull's fsyncs, whose journal
 * commits must wait for data written before them, pay for skopeo's writes as
 * well as for their own.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyImage } from '../src/image/image.js';
import { readOciLayout, writeOciLayout } from '../src/image/layout.js';
import { appendLayers } from '../src/image/mutate.js';
import { ImageStore } from '../src/image/store/store.js';
import { bytesSource } from '../src/layers/entry.js';
import { layerFromEntries } from '../src/layers/from-entries.js';
import { pull, push, RegistryClient } from '../src/registry/index.js';
import { startRegistry, type RunningRegistry } from '../test/registry/helpers.js';
import { compare, ms, unavailable, type BenchCase } from './lib.js';

const LAYERS = 10;
const LAYER_BYTES = 20 * 1000 * 1000;

function sh(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile(cmd, args, { maxBuffer: 1 << 20 }, (err, _out, stderr) => (err ? reject(new Error(`${cmd}: ${stderr || err.message}`)) : resolve())));
}

async function hasTools(): Promise<string | undefined> {
  for (const tool of ['docker-registry', 'skopeo']) {
    const ok = await new Promise<boolean>((r) => execFile('sh', ['-c', `command -v ${tool}`], (err) => r(!err)));
    if (!ok) return `${tool} is not installed`;
  }
  return undefined;
}

interface Fixture {
  root: string;
  layout: string;
  store: ImageStore;
  bytes: number;
}

let fixture: Promise<Fixture> | undefined;

/** The 200 MB image, made once per run: an OCI layout for skopeo and the same image in a store for layerkit. */
function makeFixture(): Promise<Fixture> {
  fixture ??= (async () => {
    const root = await mkdtemp(join(tmpdir(), 'layerkit-bench-registry-'));
    const layers = Array.from({ length: LAYERS }, (_, i) => {
      // Random bytes: gzip cannot shrink them, so 200 MB of content is 200 MB on the wire.
      const content = randomBytes(LAYER_BYTES);
      return layerFromEntries(
        [
          { path: '/data', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
          { path: `/data/blob-${i}.bin`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.byteLength, content: bytesSource(content) },
        ],
        { level: 1 },
      );
    });
    const layout = join(root, 'layout');
    await writeOciLayout(layout, { image: appendLayers(emptyImage({ os: 'linux', architecture: 'amd64' }), ...layers), refs: ['v1'] });
    const image = await readOciLayout(layout, 'v1');
    const store = new ImageStore(join(root, 'store'));
    await store.putImage(image, 'bench/registry:1');
    const bytes = (await image.manifest()).layers.reduce((sum, l) => sum + l.size, 0);
    return { root, layout, store, bytes };
  })();
  return fixture;
}

async function freshTemp(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `layerkit-bench-${name}-`));
}

export const cases: BenchCase[] = [
  {
    name: 'registry.push-200mb-vs-skopeo',
    target: 0.8,
    async run() {
      const missing = await hasTools();
      if (missing) return unavailable(missing, 'skopeo copy oci: → docker://');
      const f = await makeFixture();
      let reg: RunningRegistry | undefined = await startRegistry();
      let round = 0;
      try {
        const result = await compare({
          rounds: 5,
          warmup: 1,
          settle: async () => {
            await reg?.stop();
            reg = await startRegistry();
            await sh('sync', []);
          },
          baseline: () => sh('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${f.layout}:v1`, `docker://${reg!.host}/bench/skopeo:${round++}`]),
          subject: () => push(f.store, 'bench/registry:1', `${reg!.host}/bench/layerkit:${round++}`),
        });
        return {
          ratio: result.ratio,
          baseline: `skopeo copy oci: → registry (${ms(result.baselineMs)})`,
          detail: `layerkit push ${ms(result.subjectMs)}; ${LAYERS} layers, ${(f.bytes / 1e6).toFixed(0)} MB; fresh loopback registry per run`,
        };
      } finally {
        await reg?.stop();
      }
    },
  },
  {
    name: 'registry.pull-200mb-vs-skopeo',
    target: 0.8,
    async run() {
      const missing = await hasTools();
      if (missing) return unavailable(missing, 'skopeo copy docker:// → oci:');
      const f = await makeFixture();
      const reg = await startRegistry();
      const temps: string[] = [];
      try {
        const client = new RegistryClient();
        await client.push(await f.store.getImage('bench/registry:1'), `${reg.host}/bench/pull:1`);
        await client.close();
        const result = await compare({
          rounds: 5,
          warmup: 1,
          settle: async () => {
            await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
            await sh('sync', []);
          },
          baseline: async () => {
            const out = await freshTemp('skopeo-pull');
            temps.push(out);
            await sh('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${reg.host}/bench/pull:1`, `oci:${join(out, 'layout')}:v1`]);
          },
          subject: async () => {
            const out = await freshTemp('layerkit-pull');
            temps.push(out);
            await pull(`${reg.host}/bench/pull:1`, new ImageStore(out));
          },
        });
        return {
          ratio: result.ratio,
          baseline: `skopeo copy registry → oci: (${ms(result.baselineMs)})`,
          detail: `layerkit pull into an empty store ${ms(result.subjectMs)}; ${LAYERS} layers, ${(f.bytes / 1e6).toFixed(0)} MB`,
        };
      } finally {
        await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
        await reg.stop();
      }
    },
  },
];

process.once('beforeExit', () => {
  void fixture?.then((f) => rm(f.root, { recursive: true, force: true }));
});
