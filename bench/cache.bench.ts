/**
 * The build cache on a COPY-heavy context (5,000 files, 150 MB, every other
 * file random bytes, the rest text), side by side with buildah
 * (`bud --layers` in a vfs storage root) in the same run:
 *
 * - `build.nochange-vs-buildah`: a rebuild with nothing changed, layerkit
 *   against buildah's own no-change rebuild;
 * - `build.nochange-vs-cold`: the same rebuild against layerkit's cold build
 *   (fresh store, same options);
 * - `build.onefile-vs-buildah`: a rebuild after one file used by the last
 *   COPY changed, layerkit against buildah.
 *
 * All three rows come from one measurement session (the context and the
 * buildah storage are set up once): cold builds first, then no-change
 * rebuilds, then rounds of "edit one file, rebuild both", alternating which
 * tool goes first.
 *
 * Ratios are of median wall times, as the rows are defined; each row also
 * gives the ratio of median CPU times (every thread of this process; buildah
 * and its children through GNU time), which a shared, loaded machine
 * disturbs much less, and the load average before and after.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from '../src/builder/build.js';
import type { BuildResult } from '../src/builder/options.js';
import { which, writeBenchContext } from './context-fixture.js';
import { alternately, median, ms, unavailable, type BenchCase, type BenchRow } from './lib.js';

const exec = promisify(execFile);

const ROUNDS = Number(process.env.LAYERKIT_BENCH_ROUNDS ?? 3);

const DOCKERFILE = [
  'FROM scratch',
  'LABEL org.opencontainers.image.title=cache-bench',
  'COPY part0 /app/part0',
  'COPY part1 /app/part1/',
  'COPY part2/ /srv/data/',
  'ENV MODE=bench PATH=/app/bin',
  'WORKDIR /app',
  'COPY part3 /opt/part3',
  'CMD ["/app/run"]',
  '',
].join('\n');

/** The file the one-file rounds edit: used by the last COPY only. */
const EDITED = join('part3', 'dir7', 'file3.dat');

/** One timed run: wall-clock and CPU time (user + system, of every thread or child process), in ms. */
interface Sample {
  wall: number;
  cpu: number;
}

/** Times a run in this process; CPU time covers every thread (zlib and fs work included). */
async function timed(fn: () => Promise<unknown>): Promise<Sample> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await fn();
  const used = process.cpuUsage(cpu);
  return { wall: Number(process.hrtime.bigint() - start) / 1e6, cpu: (used.user + used.system) / 1000 };
}

/** Times a child process; its CPU time (and its children's) comes from GNU time. */
async function timedCommand(file: string, args: string[], timesFile: string): Promise<Sample> {
  const start = process.hrtime.bigint();
  await exec('/usr/bin/time', ['-f', '%U %S', '-o', timesFile, file, ...args], { maxBuffer: 64 << 20 });
  const wall = Number(process.hrtime.bigint() - start) / 1e6;
  const [user, system] = (await readFile(timesFile, 'utf8')).trim().split(/\s+/).slice(-2).map(Number);
  return { wall, cpu: ((user ?? 0) + (system ?? 0)) * 1000 };
}

const loads = () => loadavg().map((l) => l.toFixed(1)).join(' ');

interface Session {
  cold: Sample[];
  nochange: Sample[];
  onefile: Sample[];
  buildah?: { cold: Sample; nochange: Sample[]; onefile: Sample[] } | { missing: string };
  detail: { coldSteps: string; nochange: BuildResult['cache']; onefile: BuildResult['cache']; load: string };
}

let session: Promise<Session> | undefined;

/** Runs every measurement once; the three rows read from it. */
function measure(): Promise<Session> {
  session ??= (async () => {
    const work = await mkdtemp(join(tmpdir(), 'layerkit-cache-bench-'));
    try {
      const context = join(work, 'context');
      const progress = (what: string) => process.stderr.write(`  cache bench: ${what} (load ${loads()})\n`);
      const loadBefore = loads();
      await writeBenchContext(context, DOCKERFILE);
      progress('context written');
      const haveBuildah = await which('buildah');
      const storage = ['--storage-driver', 'vfs', '--root', join(work, 'buildah-root'), '--runroot', join(work, 'buildah-run')];
      const buildah = () =>
        timedCommand('buildah', [...storage, 'bud', '--isolation', 'chroot', '--layers', '-f', join(context, 'Dockerfile'), '-t', 'cache-bench', context], join(work, 'times'));
      const show = (s: Sample | undefined) => (s ? `${ms(s.wall)} (cpu ${ms(s.cpu)})` : '-');

      // Cold builds: each in a fresh store; the last store is the one rebuilt.
      const cold: Sample[] = [];
      let store = '';
      let coldResult: BuildResult | undefined;
      for (let i = 0; i < ROUNDS; i++) {
        store = join(work, `store-${i}`);
        cold.push(await timed(async () => (coldResult = await build({ context, store, tags: ['cache-bench'] }))));
        progress(`cold build ${i + 1}: ${show(cold[i])}`);
      }
      const rebuild = () => build({ context, store, tags: ['cache-bench'] });

      let buildahCold: Sample | undefined;
      if (haveBuildah) buildahCold = await buildah();
      progress(`buildah cold build: ${show(buildahCold)}`);

      // No-change rebuilds, alternating which tool goes first.
      const nochange: Sample[] = [];
      const buildahNochange: Sample[] = [];
      let nochangeResult: BuildResult | undefined;
      for (let i = 0; i < ROUNDS; i++) {
        const ours = async () => nochange.push(await timed(async () => (nochangeResult = await rebuild())));
        const theirs = async () => {
          if (haveBuildah) buildahNochange.push(await buildah());
        };
        await alternately(i, ours, theirs);
        progress(`no-change round ${i + 1}: ${show(nochange[i])} vs buildah ${show(buildahNochange[i])}`);
      }

      // One file of the last COPY changes (new bytes each round), then both rebuild.
      const onefile: Sample[] = [];
      const buildahOnefile: Sample[] = [];
      let onefileResult: BuildResult | undefined;
      for (let i = 0; i < ROUNDS; i++) {
        await writeFile(join(context, EDITED), `edit ${i} ${randomBytes(8).toString('hex')}\n`);
        const ours = async () => onefile.push(await timed(async () => (onefileResult = await rebuild())));
        const theirs = async () => {
          if (haveBuildah) buildahOnefile.push(await buildah());
        };
        await alternately(i, ours, theirs);
        progress(`one-file round ${i + 1}: ${show(onefile[i])} vs buildah ${show(buildahOnefile[i])}`);
      }
      const cachedSteps = (r: BuildResult | undefined) => (r ? `${r.steps.filter((s) => s.cached).length}/${r.steps.length} cached` : '');
      return {
        cold,
        nochange,
        onefile,
        buildah: haveBuildah ? { cold: buildahCold!, nochange: buildahNochange, onefile: buildahOnefile } : { missing: 'buildah is not installed (apt-get install buildah)' },
        detail: {
          coldSteps: cachedSteps(coldResult),
          nochange: { ...nochangeResult!.cache, exports: [] },
          onefile: { ...onefileResult!.cache, exports: [] },
          load: `load average ${loadBefore} before, ${loads()} after`,
        },
      };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  })();
  return session;
}

type Row = Omit<BenchRow, 'name' | 'target'>;

const walls = (samples: Sample[]) => samples.map((s) => s.wall);
const cpus = (samples: Sample[]) => samples.map((s) => s.cpu);
/** `median (cpu median) [every wall time]`. */
const summary = (samples: Sample[]) => `median ${ms(median(walls(samples)))} (cpu ${ms(median(cpus(samples)))}) [${walls(samples).map(ms).join(', ')}]`;
/** The CPU-time ratio, steadier than wall time on a shared machine. */
const cpuRatio = (ours: Sample[], theirs: Sample[]) => `cpu ratio ${(median(cpus(ours)) / median(cpus(theirs))).toFixed(3)}`;

export const cases: BenchCase[] = [
  {
    name: 'build.nochange-vs-buildah',
    target: 0.1,
    async run(): Promise<Row> {
      const s = await measure();
      if (!s.buildah || 'missing' in s.buildah) return unavailable(s.buildah && 'missing' in s.buildah ? s.buildah.missing : 'buildah not run', 'buildah');
      return {
        ratio: median(walls(s.nochange)) / median(walls(s.buildah.nochange)),
        baseline: `buildah bud --layers no-change rebuild (vfs), ${summary(s.buildah.nochange)}`,
        detail: `layerkit no-change rebuild, ${summary(s.nochange)}, ${cpuRatio(s.nochange, s.buildah.nochange)}: ${s.detail.nochange.hits} steps cached, ${s.detail.nochange.contextFilesRead} context files read, ${s.detail.nochange.contextFilesReused} from the stat index; ${s.detail.load}`,
      };
    },
  },
  {
    name: 'build.nochange-vs-cold',
    target: 0.1,
    async run(): Promise<Row> {
      const s = await measure();
      return {
        ratio: median(walls(s.nochange)) / median(walls(s.cold)),
        baseline: `layerkit cold build into a fresh store, ${summary(s.cold)}`,
        detail: `layerkit no-change rebuild, ${summary(s.nochange)}, ${cpuRatio(s.nochange, s.cold)}; ${s.detail.load}`,
      };
    },
  },
  {
    name: 'build.onefile-vs-buildah',
    target: 0.3,
    async run(): Promise<Row> {
      const s = await measure();
      if (!s.buildah || 'missing' in s.buildah) return unavailable(s.buildah && 'missing' in s.buildah ? s.buildah.missing : 'buildah not run', 'buildah');
      return {
        ratio: median(walls(s.onefile)) / median(walls(s.buildah.onefile)),
        baseline: `buildah bud --layers rebuild after a one-file change (vfs), ${summary(s.buildah.onefile)}`,
        detail: `layerkit rebuild after changing one file of the last COPY, ${summary(s.onefile)}, ${cpuRatio(s.onefile, s.buildah.onefile)}: ${s.detail.onefile.hits} steps cached, ${s.detail.onefile.misses} ran, ${s.detail.onefile.contextFilesRead} context files read; buildah cold build ${ms(s.buildah.cold.wall)}; ${s.detail.load}`,
      };
    },
  },
];
