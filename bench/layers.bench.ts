/**
 * Layer benchmarks.
 *
 * - `layer.write-5k`: a 150 MB / 5,000-file directory written as a layer
 *   (walk, tar, diffID, gzip -1, blob digest) against the GNU pipeline
 *   `tar -c --sort=name -C DIR . | gzip -1 | sha256sum`.
 * - `layer.write-1g-rss`: the peak RSS of a child process that computes the
 *   digest of a 1 GiB single-file layer, against the 256 MB budget.
 */
import { execFile, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { layerFromDirectory } from '../src/layers/index.js';
import { compare, median, ms, unavailable, type BenchCase } from './lib.js';

const FILES = 5000;
const TOTAL = 150 * 1024 * 1024;

/** A small deterministic PRNG so every run builds the same tree. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const WORDS = 'const let function return import export from await async yield class extends new this if else for while of in true false null undefined'.split(' ');

/**
 * A realistic size mix: most files small (source, config), some medium,
 * a few large (binaries, archives); half of all bytes random
 * (incompressible), half text-like.
 */
export async function makeTree(root: string): Promise<number> {
  const rand = prng(5000);
  const sizes: number[] = [];
  for (let i = 0; i < FILES; i++) {
    const r = rand();
    sizes.push(r < 0.7 ? 200 + Math.floor(rand() * 8_000) : r < 0.95 ? 8_000 + Math.floor(rand() * 60_000) : 100_000 + Math.floor(rand() * 1_500_000));
  }
  const scale = TOTAL / sizes.reduce((a, b) => a + b, 0);
  let written = 0;
  for (let i = 0; i < FILES; i++) {
    const size = Math.max(1, Math.round(sizes[i]! * scale));
    const dir = join(root, `pkg${i % 50}`, `sub${i % 7}`);
    if (i < 350) await mkdir(dir, { recursive: true });
    const data = Buffer.allocUnsafe(size);
    const half = size >> 1;
    randomFillSync(data, 0, half);
    let at = half;
    while (at < size) at += data.write(WORDS[Math.floor(rand() * WORDS.length)]! + (rand() < 0.1 ? '\n' : ' '), at);
    await writeFile(join(dir, `file${i}.${i % 3 ? 'js' : 'bin'}`), data);
    written += size;
  }
  return written;
}

function shOut(command: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('bash', ['-c', command], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => (err ? reject(err) : resolve(stdout + stderr))),
  );
}

/** Runs a shell pipeline and returns the CPU seconds (user + system) of all its processes. */
async function cpuSeconds(command: string): Promise<number> {
  const out = await shOut(`TIMEFORMAT='%U %S'; time ( ${command} )`);
  const [user, system] = out.trim().split(/\s+/).slice(-2).map(Number);
  return user! + system!;
}

async function which(tool: string): Promise<boolean> {
  return new Promise((resolve) => execFile('sh', ['-c', `command -v ${tool}`], (err) => resolve(!err)));
}

/** Runs the RSS probe in a fresh node process and returns its peak RSS in bytes. */
function peakRss(bytes: number): Promise<{ rss: number; ms: number; digest: string }> {
  const probe = fileURLToPath(new URL('./layers-rss-probe.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', probe, String(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`probe exited with ${code}`));
      resolve(JSON.parse(out) as { rss: number; ms: number; digest: string });
    });
  });
}

export const cases: BenchCase[] = [
  {
    name: 'layer.write-5k',
    target: 0.6,
    async run() {
      if (!(await which('tar')) || !(await which('gzip')) || !(await which('sha256sum'))) {
        return unavailable('GNU tar, gzip or sha256sum missing');
      }
      const root = await mkdtemp(join(tmpdir(), 'layerkit-bench-'));
      try {
        const tree = join(root, 'tree');
        const bytes = await makeTree(tree);
        const pipeline = `tar -c --sort=name -C '${tree}' . | gzip -1`;
        let blobSize = 0;
        const ourCpu: number[] = [];
        const gnuCpu: number[] = [];
        const r = await compare({
          rounds: 5,
          warmup: 1,
          baseline: async () => gnuCpu.push(await cpuSeconds(`${pipeline} | sha256sum > /dev/null`)),
          subject: async () => {
            const before = process.cpuUsage();
            const layer = layerFromDirectory(tree, { level: 1, xattrs: false });
            await layer.digest();
            await layer.diffId();
            blobSize = await layer.size();
            const used = process.cpuUsage(before);
            ourCpu.push((used.user + used.system) / 1e6);
          },
        });
        const gnuSize = Number((await shOut(`${pipeline} | wc -c`)).trim());
        return {
          ratio: r.ratio,
          baseline: `tar --sort=name | gzip -1 | sha256sum ${ms(r.baselineMs)}`,
          detail:
            `${FILES} files, ${(bytes / 2 ** 20).toFixed(0)} MiB: ${ms(r.subjectMs)} (walk, tar, diffID, parallel gzip -1, digest); ` +
            `CPU ${median(ourCpu).toFixed(2)} s vs ${median(gnuCpu).toFixed(2)} s; ` +
            `blob ${(blobSize / 2 ** 20).toFixed(1)} MiB vs gzip -1 ${(gnuSize / 2 ** 20).toFixed(1)} MiB`,
        };
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'layer.write-1g-rss',
    target: 1.0,
    async run() {
      const size = 1024 * 1024 * 1024;
      const result = await peakRss(size);
      const budget = 256 * 1024 * 1024;
      return {
        ratio: result.rss / budget,
        baseline: 'budget 256 MiB peak RSS',
        detail: `digest of a 1 GiB single-file layer (gzip -1) in a child process: peak RSS ${(result.rss / 2 ** 20).toFixed(0)} MiB, ${ms(result.ms)}`,
      };
    },
  },
];
