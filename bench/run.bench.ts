/**
 * RUN in the sandbox:
 *
 * - `build.run10-vs-buildah`: a Dockerfile of 10 RUN steps, each changing a
 *   few files, on a base image of 20,000 files (busybox + 200 directories ×
 *   100 files); layerkit's sandbox executor against buildah (`bud
 *   --isolation chroot --layers`, vfs storage), both starting from the base
 *   already in their storage, measured alternately in the same run.
 * - `run.snapshot-20k-vs-200`: the cost of one step (run, then the layer of
 *   its change, digests included) on the 20,000-file base against the same
 *   step on a 200-file base: the overlay strategy reads only the upperdir,
 *   so the cost should not grow with the base.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from '../src/builder/build.js';
import type { RunContext, RunStep } from '../src/sandbox/executor.js';
import { canUseSandbox, probeSandbox, sandboxExecutor } from '../src/sandbox/index.js';
import type { Entry } from '../src/layers/entry.js';
import { bytesSource } from '../src/layers/entry.js';
import { fileSource } from '../src/layers/from-directory.js';
import { layerFromEntries } from '../src/layers/from-entries.js';
import { UnionFS } from '../src/unionfs/union.js';
import { compare, ms, unavailable, type BenchCase } from './lib.js';

const exec = promisify(execFile);
const BUSYBOX = '/bin/busybox';

async function which(tool: string): Promise<boolean> {
  return exec('sh', ['-c', `command -v ${tool}`]).then(
    () => true,
    () => false,
  );
}

async function sandboxReason(): Promise<string | undefined> {
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} missing (apt-get install busybox-static)`;
  if (!(await canUseSandbox())) return `no sandbox: ${(await probeSandbox()).reason}`;
  return undefined;
}

/** A context with busybox and `dirs` × `perDir` small files under data/. */
async function makeContext(dir: string, dirs: number, perDir: number): Promise<void> {
  await copyFile(BUSYBOX, join(dir, 'busybox'));
  for (let d = 0; d < dirs; d++) {
    const sub = join(dir, 'data', `d${d}`);
    await mkdir(sub, { recursive: true });
    for (let f = 0; f < perDir; f++) await writeFile(join(sub, `f${f}.txt`), `file ${d}/${f}\n`);
  }
}

const BASE_DOCKERFILE = 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY data /data\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n';

/** 10 RUN steps, each creating, changing and deleting a few files (ROUND varies per build). */
function runDockerfile(): string {
  const steps = ['FROM base20k', 'ARG ROUND=0'];
  for (let i = 0; i < 10; i++) {
    steps.push(`RUN echo "$ROUND ${i}" > /data/d${i}/new${i}.txt && echo more >> /data/d${i}/f1.txt && rm /data/d${i}/f2.txt && mkdir -p /out/s${i} && touch /out/s${i}/done`);
  }
  return steps.join('\n') + '\n';
}

/** A base layer in memory: busybox with a few applet links, and `count` files in 100-file directories. */
function baseLayer(count: number) {
  const size = statSync(BUSYBOX).size;
  const entries: Entry[] = [
    { path: '/bin', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
    { path: '/bin/busybox', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, size, content: fileSource(BUSYBOX, size) },
    { path: '/data', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 },
  ];
  for (const applet of ['sh', 'echo', 'rm', 'mkdir', 'touch']) entries.push({ path: `/bin/${applet}`, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: 'busybox' });
  for (let i = 0; i < count; i++) {
    if (i % 100 === 0) entries.push({ path: `/data/d${i / 100}`, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });
    const text = new TextEncoder().encode(`file ${i}\n`);
    entries.push({ path: `/data/d${Math.floor(i / 100)}/f${i % 100}.txt`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: text.byteLength, content: bytesSource(text) });
  }
  return layerFromEntries(entries, { compression: 'none' });
}

const STEP: RunStep = {
  argv: ['/bin/sh', '-c', 'echo new > /data/d1/new.txt && echo more >> /data/d0/f1.txt && rm /data/d0/f2.txt && mkdir -p /out && touch /out/done'],
  env: ['PATH=/bin'],
  workdir: '/',
  user: { uid: 0, gid: 0, additionalGids: [] },
  mounts: [],
  network: 'default',
  security: 'sandbox',
  heredocs: [],
  instruction: 'RUN …',
  location: { line: 1, column: 1 },
};

export const cases: BenchCase[] = [
  {
    name: 'build.run10-vs-buildah',
    target: 0.5,
    async run() {
      if (!(await which('buildah'))) return unavailable('buildah is not installed (apt-get install buildah)', 'buildah');
      const reason = await sandboxReason();
      if (reason) return unavailable(reason, 'buildah');
      // Lower case only: buildah names a pulled oci: image after its path.
      const work = join(tmpdir(), `layerkit-bench-run-${randomBytes(6).toString('hex')}`);
      await mkdir(work);
      try {
        const context = join(work, 'context');
        await mkdir(context);
        await makeContext(context, 200, 100);
        const store = join(work, 'store');
        const layout = join(work, 'base-layout');
        await build({ context, dockerfileText: BASE_DOCKERFILE, store, tags: 'base20k', executor: sandboxExecutor(), xattrs: false, output: `type=oci,dest=${layout},tar=false,name=base20k:latest` });
        const storage = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-runroot')];
        await exec('buildah', [...storage, 'pull', '-q', `oci:${layout}:latest`], { maxBuffer: 1 << 24 });
        const { stdout: images } = await exec('buildah', [...storage, 'images', '-q']);
        await exec('buildah', [...storage, 'tag', images.trim().split('\n')[0]!, 'base20k']);
        await writeFile(join(context, 'Dockerfile.run'), runDockerfile());
        let round = 0;
        // One untimed layerkit build extracts the base's last layer into the store; buildah has no such state to warm.
        await build({ context, dockerfile: 'Dockerfile.run', store, buildArgs: { ROUND: 'warm' }, executor: sandboxExecutor(), xattrs: false });
        // buildah's vfs steps take minutes on 20,000 files: two rounds.
        const r = await compare({
          rounds: 2,
          warmup: 0,
          baseline: () =>
            exec('buildah', [...storage, 'bud', '--isolation', 'chroot', '--layers', '--no-cache', '--build-arg', `ROUND=${round++}`, '-f', join(context, 'Dockerfile.run'), '-t', 'run10', context], {
              maxBuffer: 1 << 26,
            }),
          subject: () =>
            build({ context, dockerfile: 'Dockerfile.run', store, buildArgs: { ROUND: String(round++) }, executor: sandboxExecutor(), xattrs: false }),
        });
        return {
          ratio: r.ratio,
          baseline: `buildah bud --isolation chroot --layers (vfs) ${ms(r.baselineMs)}`,
          detail: `10 RUN steps on a 20,000-file base already in each storage: layerkit (overlay strategy) ${ms(r.subjectMs)}, ${ms(r.subjectMs / 10)} per step`,
        };
      } finally {
        await exec('sh', ['-c', `chmod -R u+rwX ${JSON.stringify(work)} 2>/dev/null; true`]);
        await rm(work, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'run.snapshot-20k-vs-200',
    target: 1.5,
    async run() {
      const reason = await sandboxReason();
      if (reason) return unavailable(reason, 'the same step on a 200-file base');
      const store = await mkdtemp(join(tmpdir(), 'layerkit-bench-snap-'));
      try {
        const executor = sandboxExecutor({ strategy: 'overlay' });
        const step = async (base: ReturnType<typeof baseLayer>) => {
          const ctx: RunContext = {
            lowers: [base],
            rootfs: await UnionFS.open([base]),
            storeRoot: store,
            resolveMountSource: () => Promise.reject(new Error('no mounts')),
            sourceDateEpoch: 0,
            onOutput() {},
          };
          const { layer } = await executor.run(STEP, ctx);
          for await (const chunk of layer!.compressed()) void chunk;
        };
        const big = baseLayer(20_000);
        const small = baseLayer(200);
        // Views and extracted lower directories are made once, in the warm-up.
        const r = await compare({ rounds: 7, warmup: 1, baseline: () => step(small), subject: () => step(big) });
        return {
          ratio: r.ratio,
          baseline: `one step on a 200-file base ${ms(r.baselineMs)}`,
          detail: `one step (run + layer + digests) on a 20,000-file base: ${ms(r.subjectMs)}`,
        };
      } finally {
        await rm(store, { recursive: true, force: true });
      }
    },
  },
];
