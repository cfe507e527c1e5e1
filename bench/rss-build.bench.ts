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
 * The ratio is the child's peak RSS over 256 MiB: ≤ 1.0 meets the target;
 * the figure is the peak of the whole process (Node, the loaded modules and
 * the build).
 *
 * The child runs JavaScript compiled as the package is (`tsc` with
 * tsconfig.build.json, what `npm run build` puts in dist/), since that is
 * what users run: run through tsx, the same build peaked about 60 MiB
 * higher, the transpiler and its source maps being in the process. The
 * sources and the probe are compiled into the case's own temp directory, so
 * the bench does not replace a dist/ that something else may be using.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomFillSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from '../src/builder/build.js';
import { canUseSandbox, probeSandbox } from '../src/sandbox/probe.js';
import { ms, unavailable, type BenchCase } from './lib.js';

const BUDGET = 256 * 2 ** 20;

/**
 * Compiles src/ and the probe with the package's settings
 * (tsconfig.build.json) into `dir`/js and returns the compiled probe. The
 * output links the project's node_modules for the runtime dependencies.
 */
async function compileProbe(dir: string): Promise<string> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const out = join(dir, 'js');
  const config = join(dir, 'tsconfig.json');
  await mkdir(out, { recursive: true });
  await writeFile(
    config,
    JSON.stringify({
      extends: join(root, 'tsconfig.build.json'),
      compilerOptions: { rootDir: root, outDir: out, declaration: false, typeRoots: [join(root, 'node_modules/@types')] },
      include: [join(root, 'src'), join(root, 'bench/rss-build-probe.ts')],
    }),
  );
  await writeFile(join(out, 'package.json'), '{ "type": "module" }\n');
  await symlink(join(root, 'node_modules'), join(out, 'node_modules'));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const script = join(out, 'bench', 'rss-build-probe.js');
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [tsc, '-p', config], { maxBuffer: 16 << 20 }, (err, stdout) => {
      // Type errors still emit JavaScript (as `npm run build` would refuse to); say so, and go on only with output.
      if (err && !existsSync(script)) reject(new Error(`tsc failed: ${err.message}\n${stdout}`));
      else {
        if (err) process.stderr.write(`rss-build: tsc reported type errors, measuring the emitted JavaScript anyway:\n${stdout}`);
        resolve();
      }
    });
  });
  return script;
}

/** Runs the compiled probe in a fresh node process and returns its peak RSS and time. */
function probe(script: string, mode: 'copy' | 'run', context: string, store: string): Promise<{ rss: number; ms: number }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, mode, context, store], { maxBuffer: 1 << 20, timeout: 30 * 60_000 }, (err, stdout, stderr) => {
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
        const script = await compileProbe(join(work, 'compiled'));
        const context = join(work, 'context');
        await manyFiles(context, 100_000);
        return row(await probe(script, 'copy', context, join(work, 'store')), 'COPY of 100,000 files in a child process');
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
        const script = await compileProbe(join(work, 'compiled'));
        const context = join(work, 'context');
        await baseTree(join(context, 'tree'));
        await copyFile('/bin/busybox', join(context, 'busybox'));
        const store = join(work, 'store');
        await build({ context, store, tags: 'base:rss', dockerfileText: 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY tree /\n' });
        return row(await probe(script, 'run', context, store), 'cold RUN on a 150 MB, 8,000-file base in a child process');
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
  },
];
