/**
 * `build.edit-after-hits-vs-cold`: a one-file edit rebuilt with the cache.
 *
 * The base is Debian-sized (150 MB in 8,000 files over 3 layers, with
 * busybox so RUN works). The Dockerfile installs a "package" (2,000 files,
 * 20 MB, the same bytes every time, as apt would), copies one context
 * file, and runs a cheap command:
 *
 * ```
 * FROM base
 * RUN <write 2,000 files>     # cached after the edit
 * COPY edit.txt /etc/edit.txt # the edited file: misses
 * RUN echo > /x               # misses
 * ```
 *
 * The ratio: the time of the two uncached steps (COPY and the last RUN)
 * after the cache hit, over the time of the same two steps in a build
 * without the cache, from the build's own `step-end` events. Both kinds of
 * build run alternately on one store after an untimed warm-up build, so
 * every layer that can be extracted already is in both (the package
 * layer's bytes do not change from one build to the next).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from '../src/builder/build.js';
import { canUseSandbox, probeSandbox, sandboxExecutor } from '../src/sandbox/index.js';
import type { ContentSource, Entry } from '../src/layers/entry.js';
import { fileSource } from '../src/layers/from-directory.js';
import { layerFromEntries } from '../src/layers/from-entries.js';
import { emptyImage } from '../src/image/image.js';
import { appendLayers } from '../src/image/mutate.js';
import { ImageStore } from '../src/image/store/store.js';
import { alternately, median, ms, unavailable, type BenchCase } from './lib.js';

const BUSYBOX = '/bin/busybox';
const FILES = 8000;
const BYTES = 150 * 2 ** 20;
const LAYERS = 3;

const DOCKERFILE = `FROM edit-base
RUN mkdir /pkg && for d in $(seq 0 19); do mkdir /pkg/d$d; for f in $(seq 0 99); do seq $d$f $((d * 1000 + f + 2600)) > /pkg/d$d/f$f; done; done
COPY edit.txt /etc/edit.txt
RUN echo > /x
`;

/** Bytes that compress about as well as a distribution's files (3:1), made fast from a random pool. */
const POOL = Buffer.from(randomBytes(48 * 1024).toString('base64'), 'latin1');
function contentOf(seed: number, size: number): ContentSource {
  return {
    size,
    async *open() {
      const out = Buffer.alloc(size);
      for (let o = 0; o < size; o += 4096) POOL.copy(out, o, (seed * 7919 + o) % (POOL.length - 4096), (seed * 7919 + o) % (POOL.length - 4096) + Math.min(4096, size - o));
      yield out;
    },
  };
}

const dir = (path: string): Entry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });

/** The base image, put in `store` as `edit-base`. */
async function putBase(store: ImageStore): Promise<void> {
  const per = Math.floor(BYTES / FILES);
  const layers = [];
  for (let l = 0; l < LAYERS; l++) {
    const entries: Entry[] = [];
    if (l === 0) {
      const size = statSync(BUSYBOX).size;
      entries.push(dir('/bin'), { path: '/bin/busybox', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 0, size, content: fileSource(BUSYBOX, size) });
      for (const applet of ['sh', 'echo', 'mkdir', 'seq']) entries.push({ path: `/bin/${applet}`, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 0, size: 0, linkname: 'busybox' });
      const passwd = new TextEncoder().encode('root:x:0:0:root:/root:/bin/sh\n');
      entries.push(dir('/etc'), { path: '/etc/passwd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: passwd.byteLength, content: { size: passwd.byteLength, async *open() { yield passwd; } } });
    }
    entries.push(dir(`/usr${l}`));
    for (let i = 0; i < FILES / LAYERS; i++) {
      if (i % 100 === 0) entries.push(dir(`/usr${l}/d${i / 100}`));
      entries.push({ path: `/usr${l}/d${Math.floor(i / 100)}/f${i}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: per, content: contentOf(l * 10_000 + i, per) });
    }
    layers.push(layerFromEntries(entries));
  }
  await store.putImage(appendLayers(emptyImage(), ...layers), 'edit-base:latest');
}

/** One build; the durations of its COPY and last RUN (steps 2 and 3), and whether they ran. */
async function timedBuild(store: string, context: string, noCache: boolean): Promise<{ copy: number; run: number; hits: number }> {
  const times = new Map<number, { ms: number; cached: boolean }>();
  const executor = sandboxExecutor();
  try {
    await build({
      context,
      store,
      dockerfileText: DOCKERFILE,
      noCache,
      executor,
      xattrs: false,
      sourceDateEpoch: 0,
      onEvent(e) {
        if (e.type === 'step-end') times.set(e.step.index, { ms: e.durationMs, cached: e.cached });
      },
    });
  } finally {
    await executor.dispose();
  }
  const copy = times.get(2)!;
  const run = times.get(3)!;
  if (copy.cached || run.cached) throw new Error('the edited COPY and the RUN after it must run');
  return { copy: copy.ms, run: run.ms, hits: times.get(1)!.cached ? 1 : 0 };
}

export const cases: BenchCase[] = [
  {
    name: 'build.edit-after-hits-vs-cold',
    target: 1.5,
    async run() {
      if (!existsSync(BUSYBOX)) return unavailable(`${BUSYBOX} missing (apt-get install busybox-static)`, 'the same steps without the cache');
      if (!(await canUseSandbox())) return unavailable(`no sandbox: ${(await probeSandbox()).reason}`, 'the same steps without the cache');
      const work = await mkdtemp(join(tmpdir(), 'layerkit-bench-edit-'));
      try {
        const store = join(work, 'store');
        const context = join(work, 'context');
        await mkdir(context);
        await putBase(new ImageStore(store));
        let edit = 0;
        const next = () => writeFile(join(context, 'edit.txt'), `edit ${edit++}\n`);
        await next();
        // Untimed: extracts the base and the package layer, and records the package step.
        await timedBuild(store, context, false);
        const cold: Array<{ copy: number; run: number }> = [];
        const hits: Array<{ copy: number; run: number }> = [];
        for (let round = 0; round < 4; round++) {
          await alternately(
            round,
            async () => {
              await next();
              cold.push(await timedBuild(store, context, true));
            },
            async () => {
              await next();
              const r = await timedBuild(store, context, false);
              if (r.hits !== 1) throw new Error('the package step must come from the cache');
              hits.push(r);
            },
          );
        }
        const sum = (xs: Array<{ copy: number; run: number }>) => median(xs.map((x) => x.copy + x.run));
        const part = (xs: Array<{ copy: number; run: number }>, k: 'copy' | 'run') => median(xs.map((x) => x[k]));
        const ratio = sum(hits) / sum(cold);
        return {
          ratio,
          baseline: `COPY + RUN without the cache ${ms(sum(cold))} (COPY ${ms(part(cold, 'copy'))}, RUN ${ms(part(cold, 'run'))})`,
          detail: `after the cached package step: COPY + RUN ${ms(sum(hits))} (COPY ${ms(part(hits, 'copy'))}, RUN ${ms(part(hits, 'run'))}); base 150 MB, 8,000 files, 3 layers; medians of 4`,
        };
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
  },
];
