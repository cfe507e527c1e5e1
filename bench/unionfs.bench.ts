/**
 * Union fs hot paths, each against a baseline measured in the same run:
 * lookups over deep stacks vs one flattened layer, merged readdir, commit vs
 * a layer written from a directory, reads through a view vs node:fs.
 */
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesSource, type Entry } from '../src/layers/entry.js';
import { layerFromDirectory } from '../src/layers/from-directory.js';
import { LayerIndex, LowerStack, UnionFS } from '../src/unionfs/index.js';
import { median, ms, timeMs, type BenchCase } from './lib.js';

const meta = { uid: 0, gid: 0, mtime: 1_700_000_000 };
const dirEntry = (path: string): Entry => ({ ...meta, path, type: 'dir', mode: 0o755, size: 0 });
function fileEntry(path: string, size: number, seed: number): Entry {
  const bytes = Buffer.alloc(size, seed & 0xff);
  return { ...meta, path, type: 'file', mode: 0o644, size, content: bytesSource(bytes) };
}

/** `count` files in 100 directories, `/dNN/fNNNNN`. */
function filePaths(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `/d${String(i % 100).padStart(2, '0')}/f${String(i).padStart(5, '0')}`);
}

/** The same files split over `layers` layers (each writing its parents), or all in one. */
function layered(paths: string[], layers: number, size: number): Entry[][] {
  const out: Entry[][] = Array.from({ length: layers }, () => []);
  const parents: Set<string>[] = Array.from({ length: layers }, () => new Set());
  paths.forEach((path, i) => {
    const k = i % layers;
    const dir = path.slice(0, path.lastIndexOf('/'));
    if (!parents[k]!.has(dir)) {
      parents[k]!.add(dir);
      out[k]!.push(dirEntry(dir));
    }
    out[k]!.push(fileEntry(path, size, i));
  });
  return out;
}

/** Alternating timed rounds of both sides (setup excluded), medians and ratio. */
async function alternate(rounds: number, baseline: () => Promise<number>, subject: () => Promise<number>) {
  const b: number[] = [];
  const s: number[] = [];
  await baseline();
  await subject();
  // Which side goes first alternates too, so warm-up and GC debt do not favour one.
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      b.push(await baseline());
      s.push(await subject());
    } else {
      s.push(await subject());
      b.push(await baseline());
    }
  }
  const baselineMs = median(b);
  const subjectMs = median(s);
  return { baselineMs, subjectMs, ratio: subjectMs / baselineMs };
}

export const cases: BenchCase[] = [
  {
    name: 'union.stat-50-layers',
    target: 1.5,
    async run() {
      const paths = filePaths(10_000);
      const deep = await UnionFS.open(layered(paths, 50, 16));
      const flat = await UnionFS.open(layered(paths, 1, 16));
      const statAll = (view: UnionFS) => timeMs(async () => {
        for (const p of paths) await view.stat(p);
      });
      const r = await alternate(11, () => statAll(flat), () => statAll(deep));
      return {
        ratio: r.ratio,
        baseline: `1 flattened layer ${ms(r.baselineMs)}`,
        detail: `stat of 10,000 paths over 50 layers: ${ms(r.subjectMs)} (${((r.subjectMs * 1000) / 10_000).toFixed(2)} µs/stat)`,
      };
    },
  },
  {
    name: 'union.readdir-20-layers',
    target: 2,
    async run() {
      const names = Array.from({ length: 5_000 }, (_, i) => `/big/n${String(i).padStart(5, '0')}`);
      const spread = await UnionFS.open(layered(names, 20, 1));
      const single = await UnionFS.open(layered(names, 1, 1));
      // The upper holds a few changes too, so the merge of upper and lower is on the path.
      for (const view of [spread, single]) {
        await view.writeFile('/big/zz-new', 'x');
        await view.unlink('/big/n00000');
      }
      const list = (view: UnionFS) => timeMs(async () => {
        for (let i = 0; i < 200; i++) await view.readdir('/big');
      });
      const r = await alternate(11, () => list(single), () => list(spread));
      return {
        ratio: r.ratio,
        baseline: `same directory in 1 layer ${ms(r.baselineMs)}`,
        detail: `200 readdirs of 5,000 entries spread over 20 layers: ${ms(r.subjectMs)}`,
      };
    },
  },
  {
    name: 'union.commit-10k',
    target: 1.2,
    async run() {
      const paths = filePaths(10_000);
      const dir = await fsp.mkdtemp(join(tmpdir(), 'bench-union-commit-'));
      try {
        for (let i = 0; i < 100; i++) await fsp.mkdir(join(dir, `d${String(i).padStart(2, '0')}`));
        for (const [i, p] of paths.entries()) await fsp.writeFile(join(dir, p), Buffer.alloc(512, i & 0xff));
        const base = LowerStack.of([LayerIndex.fromEntries(layered(paths.slice(0, 100), 1, 8)[0]!)]);
        const baseline = () => timeMs(async () => {
          await layerFromDirectory(dir, { owner: { uid: 0, gid: 0 }, xattrs: false }).diffId();
        });
        const subject = async () => {
          const view = new UnionFS(base);
          for (const [i, p] of paths.entries()) {
            if (i < 100) await view.mkdir(p.slice(0, p.lastIndexOf('/')), { recursive: true });
            await view.writeFile(p, Buffer.alloc(512, i & 0xff));
          }
          return timeMs(async () => {
            await (await view.commit()).diffId();
          });
        };
        const r = await alternate(5, baseline, subject);
        return {
          ratio: r.ratio,
          baseline: `layerFromDirectory + diffId ${ms(r.baselineMs)}`,
          detail: `commit() + diffId of 10,000 changed 512-byte files: ${ms(r.subjectMs)}`,
        };
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    },
  },
  {
    name: 'union.read-vs-fs',
    target: 1.5,
    async run() {
      const paths = filePaths(5_000);
      const view = await UnionFS.open(layered(paths, 10, 2048));
      const dir = await fsp.mkdtemp(join(tmpdir(), 'bench-union-read-'));
      try {
        await view.materialize(join(dir, 'rootfs'));
        const root = join(dir, 'rootfs');
        const viaFs = () => timeMs(async () => {
          for (const p of paths) await fsp.readFile(root + p);
        });
        const viaView = () => timeMs(async () => {
          for (const p of paths) await view.readFile(p);
        });
        const r = await alternate(7, viaFs, viaView);
        return {
          ratio: r.ratio,
          baseline: `fs.promises.readFile of the extracted files ${ms(r.baselineMs)}`,
          detail: `readFile of 5,000 2 KiB files through a 10-layer view: ${ms(r.subjectMs)}`,
        };
      } finally {
        await fsp.rm(dir, { recursive: true, force: true });
      }
    },
  },
];
