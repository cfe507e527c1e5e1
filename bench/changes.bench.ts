/**
 * Changesets: diff of two large trees, and extraction of a large layer.
 *
 *   npm run bench -- --filter diff.
 *   npm run bench -- --filter layer.extract
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { diff } from '../src/layers/changes/diff.js';
import { bytesSource, type Entry } from '../src/layers/entry.js';
import { extractLayer } from '../src/layers/extract.js';
import { layerFromEntries } from '../src/layers/from-entries.js';
import { layerFromTarFile } from '../src/layers/from-tar.js';
import { Tree } from '../src/layers/tree.js';
import { compare, ms, unavailable, type BenchCase } from './lib.js';

/** Deterministic bytes: a third random, the rest repeated text (compresses about as real files do). */
function fileBytes(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let state = seed | 1;
  const text = new TextEncoder().encode(`line ${seed} of some configuration or source file; `);
  for (let i = 0; i < size; i++) {
    if (i % 3 === 0) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      out[i] = state & 0xff;
    } else {
      out[i] = text[i % text.length]!;
    }
  }
  return out;
}

/** 100,000 entries: 100 top dirs × 10 subdirs × 99 files (plus the dirs themselves). */
function bigTreeEntries(changed: boolean): Entry[] {
  const entries: Entry[] = [];
  let n = 0;
  for (let i = 0; i < 100; i++) {
    entries.push({ path: `/d${i}`, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0 });
    for (let j = 0; j < 10; j++) {
      const dir = `/d${i}/s${j}`;
      entries.push({ path: dir, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0 });
      for (let k = 0; k < 99; k++) {
        n++;
        // 1% changed: a third rewritten (same size, same mtime), a third deleted, a third replaced by new names.
        const bucket = n % 100 === 0 ? (n / 100) % 3 : -1;
        if (changed && bucket === 1) continue;
        const name = changed && bucket === 2 ? `new${k}` : `f${k}`;
        const bytes = new Uint8Array(16);
        new DataView(bytes.buffer).setUint32(0, n);
        if (changed && bucket === 0) bytes[15] = 1;
        entries.push({ path: `${dir}/${name}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size: 16, content: bytesSource(bytes) });
      }
    }
  }
  return entries;
}

const diffCase: BenchCase = {
  name: 'diff.100k-1pct',
  target: 3,
  async run() {
    const a = Tree.fromEntries(bigTreeEntries(false));
    const b = Tree.fromEntries(bigTreeEntries(true));
    await Promise.all([a.hashContents(), b.hashContents()]);
    let sink = 0;
    let changes = 0;
    const r = await compare({
      rounds: 9,
      warmup: 2,
      baseline: () => {
        for (const e of a.entries()) sink += e.mode;
        for (const e of b.entries()) sink += e.mode;
      },
      subject: () => {
        changes = diff(a, b).length;
      },
    });
    void sink;
    return {
      ratio: r.ratio,
      baseline: `walk of both trees touching every entry ${ms(r.baselineMs)}`,
      detail: `${a.size.toLocaleString('en')} vs ${b.size.toLocaleString('en')} entries, ${changes} changes, content compared by sha256: ${ms(r.subjectMs)}`,
    };
  },
};

const FILES = 5000;
const TOTAL = 150 * 2 ** 20;

const extractCase: BenchCase = {
  name: 'layer.extract-5k',
  target: 1.0,
  async run() {
    const tar = spawnSync('tar', ['--version'], { encoding: 'utf8' });
    if (tar.error || !tar.stdout.includes('GNU tar')) return unavailable('GNU tar not installed', 'tar -xzf');
    const work = await mkdtemp(join(tmpdir(), 'layerkit-bench-'));
    try {
      const entries: Entry[] = [];
      for (let d = 0; d < 50; d++) entries.push({ path: `/usr/share/p${d}`, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0 });
      for (let i = 0; i < FILES; i++) {
        // Sizes from 1 KiB to ~59 KiB averaging TOTAL / FILES.
        const size = Math.round((TOTAL / FILES) * (0.05 + 1.9 * ((i * 7919) % FILES) / FILES));
        entries.push({ path: `/usr/share/p${i % 50}/file${i}.dat`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size, content: bytesSource(fileBytes(i, size)) });
      }
      const blob = join(work, 'layer.tar.gz');
      await pipeline(Readable.from(layerFromEntries(entries, { level: 6 }).compressed()), createWriteStream(blob));
      const blobSize = (await stat(blob)).size;
      // Every run extracts into a new directory. Before each timed run,
      // untimed, the disk is synced, so neither side pays for the other's
      // writeback (and compare() alternates which side goes first). Outputs
      // are removed only at the end: on an ext4 without a journal, creating
      // files right after thousands were deleted makes the inode allocator
      // step over each recently freed inode (`recently_deleted()`, ~45 % of
      // GNU tar's samples in perf when the bench removed them between runs).
      let round = 0;
      const fresh = async () => join(work, `out${round++}`);
      const r = await compare({
        rounds: 9,
        warmup: 1,
        settle: () => spawnSync('sync'),
        baseline: async () => {
          const dir = await fresh();
          spawnSync('mkdir', [dir]);
          const res = spawnSync('tar', ['-xzf', blob, '-C', dir]);
          if (res.status !== 0) throw new Error(`tar failed: ${res.stderr}`);
        },
        subject: async () => {
          const dir = await fresh();
          await extractLayer(layerFromTarFile(blob), dir);
        },
      });
      return {
        ratio: r.ratio,
        baseline: `GNU tar -xzf ${ms(r.baselineMs)}`,
        detail: `${FILES} files, ${(TOTAL / 2 ** 20).toFixed(0)} MiB, blob ${(blobSize / 2 ** 20).toFixed(1)} MiB: extractLayer ${ms(r.subjectMs)}`,
      };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
};

export const cases: BenchCase[] = [diffCase, extractCase];
