/**
 * `build.lazy-base-push-vs-buildah`: a COPY-only build on a 200 MB registry
 * base, pushed to the same registry, against buildah doing the same job —
 * `buildah pull` + `buildah bud` + `buildah push` (vfs storage under a fresh
 * temporary root, `--tls-verify=false`) — in the same run, on a loopback
 * registry (Debian's docker-registry).
 *
 * The base (4 layers of 50 MB of random bytes, built by layerkit) is pushed
 * first, untimed, with its layer indexes. Each timed layerkit round builds
 * into a fresh, empty store, so nothing is local: the base's blobs are
 * mounted into the output repository, never downloaded. The detail states
 * the base-layer bytes downloaded over the rounds (counted from the
 * registry client's transfer events and the build's `base-download` events;
 * it must be 0).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from '../src/builder/build.js';
import { ImageStore } from '../src/image/store/store.js';
import type { RegistryEvent } from '../src/registry/index.js';
import { which } from './context-fixture.js';
import { alternately, median, ms, unavailable, type BenchCase, type BenchRow } from './lib.js';

const exec = promisify(execFile);
const ROUNDS = Number(process.env.LAYERKIT_BENCH_ROUNDS ?? 3);
const BASE_LAYERS = 4;
const LAYER_BYTES = 50 * 1e6;

interface Sample {
  wall: number;
  cpu: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A loopback docker-registry with its storage under `dir`. */
async function startRegistry(dir: string): Promise<{ host: string; child: ChildProcess }> {
  const port = await freePort();
  await writeFile(
    join(dir, 'registry.yml'),
    ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'registry-data')}`, 'http:', `  addr: 127.0.0.1:${port}`, ''].join('\n'),
  );
  const child = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'registry.yml')], { stdio: 'ignore' });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false)) return { host, child };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('docker-registry did not start');
}

async function timed(fn: () => Promise<unknown>): Promise<Sample> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await fn();
  const used = process.cpuUsage(cpu);
  return { wall: Number(process.hrtime.bigint() - start) / 1e6, cpu: (used.user + used.system) / 1000 };
}

/** Runs commands one after another under GNU time; wall time of all, CPU time of each summed. */
async function timedCommands(commands: Array<[string, string[]]>, timesFile: string): Promise<Sample> {
  const start = process.hrtime.bigint();
  let cpu = 0;
  for (const [file, args] of commands) {
    await exec('/usr/bin/time', ['-f', '%U %S', '-o', timesFile, file, ...args], { maxBuffer: 64 << 20 });
    const [user, system] = (await readFile(timesFile, 'utf8')).trim().split(/\s+/).slice(-2).map(Number);
    cpu += ((user ?? 0) + (system ?? 0)) * 1000;
  }
  return { wall: Number(process.hrtime.bigint() - start) / 1e6, cpu };
}

const loads = () => loadavg().map((l) => l.toFixed(1)).join(' ');
const summary = (samples: Sample[]) => `median ${ms(median(samples.map((s) => s.wall)))} (cpu ${ms(median(samples.map((s) => s.cpu)))}) [${samples.map((s) => ms(s.wall)).join(', ')}]`;

async function lazyBasePush(): Promise<Omit<BenchRow, 'name' | 'target'>> {
  if (!(await which('docker-registry'))) return unavailable('docker-registry is not installed (apt-get install docker-registry)', 'buildah');
  if (!(await which('buildah'))) return unavailable('buildah is not installed (apt-get install buildah)', 'buildah');
  const work = await mkdtemp(join(tmpdir(), 'layerkit-registry-bench-'));
  let registry: ChildProcess | undefined;
  try {
    const started = await startRegistry(work);
    registry = started.child;
    const host = started.host;
    const progress = (what: string) => process.stderr.write(`  registry bench: ${what} (load ${loads()})\n`);
    const loadBefore = loads();

    // The base: 4 COPY layers of 50 MB of random bytes, pushed by layerkit (with its layer indexes).
    const baseContext = join(work, 'base-context');
    await mkdir(baseContext, { recursive: true });
    const copies: string[] = [];
    for (let i = 0; i < BASE_LAYERS; i++) {
      await mkdir(join(baseContext, `part${i}`));
      for (let f = 0; f < 10; f++) await writeFile(join(baseContext, `part${i}`, `blob${f}.bin`), randomBytes(LAYER_BYTES / 10));
      copies.push(`COPY part${i}/ /opt/base/part${i}/`);
    }
    const base = `${host}/bench/base:1`;
    const baseResult = await build({
      context: baseContext,
      store: new ImageStore(join(work, 'base-store')),
      dockerfileText: ['FROM scratch', ...copies, ''].join('\n'),
      sourceDateEpoch: 0,
      xattrs: false,
      output: `type=registry,name=${base}`,
    });
    const baseLayers = new Set(await Promise.all((await baseResult.image.layers()).map((l) => l.digest())));
    const baseBytes = (await Promise.all((await baseResult.image.layers()).map((l) => l.size()))).reduce((a, b) => a + b, 0);
    await rm(join(work, 'base-store'), { recursive: true, force: true });
    progress(`base pushed: ${baseLayers.size} layers, ${(baseBytes / 1e6).toFixed(0)} MB`);

    // The app: a few small files COPYed onto the base, metadata set.
    const app = join(work, 'app');
    await mkdir(join(app, 'src'), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(join(app, 'src', `module${i}.js`), `export const value${i} = ${i};\n`.repeat(200));
    await writeFile(join(app, 'package.json'), '{"name":"bench-app","version":"1.0.0"}\n');
    const dockerfile = `FROM ${base}\nWORKDIR /app\nCOPY package.json ./\nCOPY src/ ./src/\nENV NODE_ENV=production\nCMD ["node", "/app/src/module0.js"]\n`;
    await writeFile(join(app, 'Dockerfile'), dockerfile);

    let downloaded = 0;
    let baseDownloadEvents = 0;
    let round = 0;
    let lastDigest = '';
    const onRegistryEvent = (e: RegistryEvent) => {
      if (e.type === 'blob-done' && e.direction === 'pull' && e.result === 'downloaded' && baseLayers.has(e.digest)) downloaded += e.total;
    };
    const layerkit = async () => {
      const n = round++;
      const storeDir = join(work, `lk-store-${n}`);
      try {
        const result = await build({
          context: app,
          store: new ImageStore(storeDir),
          sourceDateEpoch: 0,
          xattrs: false,
          output: `type=registry,name=${host}/bench/lk-out:${n}`,
          registry: { onEvent: onRegistryEvent },
          onEvent: (e) => {
            if (e.type === 'base-download') baseDownloadEvents++;
          },
        });
        lastDigest = result.digest;
      } finally {
        await rm(storeDir, { recursive: true, force: true });
      }
    };
    let buildahRound = 0;
    const buildah = async () => {
      const n = buildahRound++;
      const root = join(work, `buildah-${n}`);
      const storage = ['--storage-driver', 'vfs', '--root', join(root, 'root'), '--runroot', join(root, 'run')];
      try {
        return await timedCommands(
          [
            ['buildah', [...storage, 'pull', '--tls-verify=false', '-q', base]],
            ['buildah', [...storage, 'bud', '--tls-verify=false', '--isolation', 'chroot', '-q', '-f', join(app, 'Dockerfile'), '-t', `bench-out:${n}`, app]],
            ['buildah', [...storage, 'push', '--tls-verify=false', '-q', `bench-out:${n}`, `docker://${host}/bench/bh-out:${n}`]],
          ],
          join(work, 'times'),
        );
      } finally {
        await exec('buildah', [...storage, 'rm', '--all']).catch(() => undefined);
        await rm(root, { recursive: true, force: true }).catch(async () => {
          // vfs layers may hold read-only directories: make them writable, then remove.
          await exec('chmod', ['-R', 'u+w', root]).catch(() => undefined);
          await rm(root, { recursive: true, force: true });
        });
      }
    };

    // One untimed round of each (warm-up: page cache, the registry's own caches).
    await layerkit();
    await buildah();
    progress('warm-up done');
    const ours: Sample[] = [];
    const theirs: Sample[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      await alternately(
        i,
        async () => ours.push(await timed(layerkit)),
        async () => theirs.push(await buildah()),
      );
      progress(`round ${i + 1}: layerkit ${ms(ours.at(-1)!.wall)}, buildah ${ms(theirs.at(-1)!.wall)}`);
    }
    return {
      ratio: median(ours.map((s) => s.wall)) / median(theirs.map((s) => s.wall)),
      baseline: `buildah pull + bud + push (vfs, fresh root each round), ${summary(theirs)}`,
      detail:
        `layerkit build of a COPY-only Dockerfile on a ${(baseBytes / 1e6).toFixed(0)} MB, ${baseLayers.size}-layer registry base, pushed, fresh store each round, ${summary(ours)}; ` +
        `base-layer bytes downloaded by layerkit over ${ROUNDS + 1} builds: ${downloaded} (base-download events: ${baseDownloadEvents}); ` +
        `cpu ratio ${(median(ours.map((s) => s.cpu)) / median(theirs.map((s) => s.cpu))).toFixed(3)}; last digest ${lastDigest.slice(0, 19)}; load average ${loadBefore} before, ${loads()} after`,
    };
  } finally {
    registry?.kill('SIGTERM');
    await rm(work, { recursive: true, force: true }).catch(async () => {
      await exec('chmod', ['-R', 'u+w', work]).catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    });
  }
}

export const cases: BenchCase[] = [
  {
    name: 'build.lazy-base-push-vs-buildah',
    target: 0.1,
    run: lazyBasePush,
  },
];
