/**
 * Peak memory of builds, against the 256 MiB budget (as `layer.write-1g-rss`):
 *
 * - `build.copy-100k-files-rss`: `COPY . /data` of a context of 100,000
 *   small files, in a child process (`rss-build-probe.ts copy`).
 * - `build.run-base-rss`: a cold `RUN` build (its base layers extracted
 *   for the sandbox first) on a 150 MB, 8,000-file base image, in a child
 *   process (`rss-build-probe.ts run`). Needs the RUN sandbox and Debian's
 *   busybox-static.
 *
 * The ratio is the child's peak RSS over 256 MiB: ≤ 1.0 meets the target.
 */
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from '../src/builder/build.js';
import { canUseSandbox, probeSandbox } from '../src/sandbox/probe.js';
import { ms, unavailable, type BenchCase } from './lib.js';

const BUDGET = 256 * 2 ** 20;

/** Runs the probe in a fresh node process and returns its peak RSS and time. */
function probe(mode: 'copy' | 'run', context: string, store: string): Promise<{ rss: number; ms: number }> {
  const script = fileURLToPath(new URL('./rss-build-probe.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', script, mode, context, store], { maxBuffer: 1 << 20, timeout: 30 * 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as { rss: number; ms: number });
    });
  });
}

/** `count` small text files (40–400 bytes) in 1,000 directories. */
async function manyFiles(root: string, count: number): Promise<void> {
  for (let d = 0; d < 1000; d++) await mkdir(join(root, `d${d}`), { recursive: true });
  for (let i = 0; i < count; i++) await writeFile(join(root, `d${i % 1000}`, `file-${i}.txt`), `line ${i}\n`.repeat(4 + (i % 40)));
}

/** 8,000 files, 150 MB in all (a Debian base's order of magnitude), half of each file random. */
async function baseTree(root: string): Promise<void> {
  const FILES = 8000;
  const TOTAL = 150 * 2 ** 20;
  let left = TOTAL;
  for (let i = 0; i < FILES; i++) {
    const dir = join(root, `usr${i % 40}`, `lib${i % 9}`);
    if (i < 360) await mkdir(dir, { recursive: true });
    // Mostly small files and a few large ones, as in a distribution.
    const size = i === FILES - 1 ? left : Math.min(left, i % 200 === 0 ? 1_500_000 : 4_000 + (i % 13) * 1_000);
    const data = Buffer.alloc(size, 0x61);
    randomFillSync(data, 0, size >> 1);
    await writeFile(join(dir, `f${i}`), data);
    left -= size;
  }
}

function row(result: { rss: number; ms: number }, what: string) {
  return {
    ratio: result.rss / BUDGET,
    baseline: 'budget 256 MiB peak RSS',
    detail: `${what}: peak RSS ${(result.rss / 2 ** 20).toFixed(0)} MiB, ${ms(result.ms)}`,
  };
}

export const cases: BenchCase[] = [
  {
    name: 'build.copy-100k-files-rss',
    target: 1.0,
    async run() {
      const work = await mkdtemp(join(tmpdir(), 'layerkit-bench-rss-copy-'));
      try {
        const context = join(work, 'context');
        await manyFiles(context, 100_000);
        return row(await probe('copy', context, join(work, 'store')), 'COPY of 100,000 files in a child process');
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'build.run-base-rss',
    target: 1.0,
    async run() {
      if (!existsSync('/bin/busybox')) return unavailable('/bin/busybox missing (Debian package busybox-static)');
      if (!(await canUseSandbox())) return unavailable(`no RUN sandbox here: ${(await probeSandbox()).reason}`);
      const work = await mkdtemp(join(tmpdir(), 'layerkit-bench-rss-run-'));
      try {
        const context = join(work, 'context');
        await baseTree(join(context, 'tree'));
        await copyFile('/bin/busybox', join(context, 'busybox'));
        const store = join(work, 'store');
        await build({ context, store, tags: 'base:rss', dockerfileText: 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY tree /\n' });
        return row(await probe('run', context, store), 'cold RUN on a 150 MB, 8,000-file base in a child process');
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
  },
];
