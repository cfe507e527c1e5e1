/**
 * The cache law, for random sequences of context edits (content, mode,
 * mtime, `.dockerignore`d files, edits that put old content back) and
 * rebuilds into one store, each compared with a build of the same inputs
 * into an empty store with the cache off:
 *
 * 1. No stale hit: every layer of the cached build holds exactly the files
 *    of the uncached build's layer — paths, types, modes, owners, sizes,
 *    link targets, bytes — in every tar field but the file times.
 * 2. Exact reuse: a step that hit has the very layer (same digest) its key
 *    was first built with; a step that ran has the uncached build's layer.
 *    File times are not part of a key (as in BuildKit, whose cache hit also
 *    reuses the old snapshot), so a reused layer keeps the times of the
 *    build that recorded it.
 * 3. Byte identity: the cached image is byte-identical to the uncached one
 *    exactly when no reused layer was recorded with other file times than
 *    the files have now (after SOURCE_DATE_EPOCH clamping). With
 *    SOURCE_DATE_EPOCH set and every file time at or after it, times are
 *    all clamped to the epoch, so the cached image is always byte-identical.
 * 4. Minimal work: the steps that run are exactly those from the first one
 *    whose inputs (file contents and modes, not times) were never built.
 *
 * Three regimes: `clamped` (epoch set, every time at or after it),
 * `epoch` (epoch set, times on both sides of it), `none` (no epoch: the
 * config's `created` then differs between any two builds and is left out
 * of the comparison).
 *
 * LAYERKIT_CACHE_PROPERTY_RUNS sets the number of runs per regime (default 5).
 */
import { chmod, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/builder/build.js';
import type { BuildOptions, BuildResult } from '../../src/builder/options.js';
import type { Image } from '../../src/image/image.js';
import { freshStore, layerMembers, writeContext } from './helpers.js';

const FILES = ['a.txt', 'b.txt', 'dir/c.txt', 'ignored.txt'] as const;
type File = (typeof FILES)[number];
const INITIAL: Record<File, string> = { 'a.txt': 'a', 'b.txt': 'b', 'dir/c.txt': 'c', 'ignored.txt': 'i' };

/** The Dockerfile's steps, and the context files each one reads (`.dockerignore` hides ignored.txt). */
const STEPS: Array<{ line: string; reads: File[] }> = [
  { line: 'COPY a.txt /a', reads: ['a.txt'] },
  { line: 'COPY b.txt /b', reads: ['b.txt'] },
  { line: 'ENV X=1', reads: [] },
  { line: 'COPY dir/ /dir/', reads: ['dir/c.txt'] },
  { line: 'COPY . /all/', reads: ['a.txt', 'b.txt', 'dir/c.txt'] },
];
const DOCKERFILE = ['FROM scratch', ...STEPS.map((s) => s.line)].join('\n');
const EPOCH = 1700000000;

type Regime = 'clamped' | 'epoch' | 'none';

type Edit =
  | { kind: 'write'; file: File; content: string }
  | { kind: 'touch'; file: File; offset: number }
  | { kind: 'chmod'; file: File; mode: number };

function edits(regime: Regime): fc.Arbitrary<Edit> {
  const file = fc.constantFrom(...FILES);
  // Touches land at EPOCH + offset: on the clamped side only, or on both sides.
  const offset = regime === 'clamped' ? fc.integer({ min: 0, max: 10_000 }) : fc.integer({ min: -10_000, max: 10_000 });
  return fc.oneof(
    // Some writes put a file's first content back: its old keys come back, with other file times.
    fc.record({ kind: fc.constant('write' as const), file, content: fc.constantFrom('', 'a', 'b', 'c', 'x', 'longer content') }),
    fc.record({ kind: fc.constant('touch' as const), file, offset }),
    fc.record({ kind: fc.constant('chmod' as const), file, mode: fc.constantFrom(0o644, 0o755, 0o600) }),
  );
}

interface FileState {
  content: string;
  mode: number;
}

async function apply(context: string, state: Map<File, FileState>, e: Edit): Promise<void> {
  const path = join(context, e.file);
  const current = state.get(e.file)!;
  switch (e.kind) {
    case 'write':
      // The file's time becomes now: after the epoch.
      await writeFile(path, e.content);
      state.set(e.file, { ...current, content: e.content });
      break;
    case 'touch':
      await utimes(path, EPOCH + e.offset, EPOCH + e.offset);
      break;
    case 'chmod':
      await chmod(path, e.mode);
      state.set(e.file, { ...current, mode: e.mode });
      break;
  }
}

/** For each step, the inputs of steps 0..i as the model sees them (contents and modes, never times): what a correct cache keys on. */
function prefixKeys(state: Map<File, FileState>): string[] {
  const out: string[] = [];
  let acc = '';
  for (const step of STEPS) {
    acc += JSON.stringify([step.line, step.reads.map((f) => state.get(f))]);
    out.push(acc);
  }
  return out;
}

/** A layer's tar members with everything but their times, contents as text. */
async function withoutTimes(image: Image): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const layer of await image.layers()) {
    out.push((await layerMembers(layer)).map(({ mtime: _mtime, content: _content, ...rest }) => rest));
  }
  return out;
}

/** The image config without `created` (build time when no epoch is given), everything else kept. */
async function configWithoutCreated(result: BuildResult): Promise<unknown> {
  const { created: _created, history, ...rest } = (await result.image.config()) as { created?: string; history?: Array<{ created?: string }> };
  return { ...rest, history: history?.map(({ created: _c, ...h }) => h) };
}

async function checkLaw(regime: Regime, initialOffsets: number[], rounds: Edit[][]): Promise<void> {
  const spec = Object.fromEntries(FILES.map((f, i) => [f, { content: INITIAL[f], mode: 0o644, mtime: EPOCH + initialOffsets[i]! }]));
  const context = await writeContext({ ...spec, '.dockerignore': 'ignored.txt\n' });
  const state = new Map<File, FileState>(FILES.map((f) => [f, { content: INITIAL[f], mode: 0o644 }]));
  const options: BuildOptions = { dockerfileText: DOCKERFILE, xattrs: false, ...(regime === 'none' ? {} : { sourceDateEpoch: EPOCH }) };
  const store = await freshStore();
  /** Prefix key → the layer digest its step was first built with. */
  const recorded = new Map<string, string | null>();
  for (const round of [[], ...rounds]) {
    for (const e of round) await apply(context, state, e);
    const keys = prefixKeys(state);
    const firstNew = keys.findIndex((k) => !recorded.has(k));
    const expectedMisses = firstNew < 0 ? 0 : STEPS.length - firstNew;

    const cached = await build({ ...options, context, store });
    const reference = await build({ ...options, context, store: await freshStore(), noCache: true });

    // 4. Minimal work.
    expect(cached.cache.misses).toBe(expectedMisses);
    expect(cached.steps.map((s) => s.cached)).toEqual(STEPS.map((_, i) => i < STEPS.length - expectedMisses));
    // 1. No stale hit.
    expect(await withoutTimes(cached.image)).toEqual(await withoutTimes(reference.image));
    // 2. Exact reuse.
    const expectedLayers = keys.map((k, i) => (recorded.has(k) ? recorded.get(k)! : reference.steps[i]!.layer));
    expect(cached.steps.map((s) => s.layer)).toEqual(expectedLayers);
    // 3. Byte identity exactly when every reused layer has today's times.
    const sameTimes = expectedLayers.every((layer, i) => layer === reference.steps[i]!.layer);
    if (regime === 'none') {
      expect(isDeepStrictEqual(await configWithoutCreated(cached), await configWithoutCreated(reference))).toBe(sameTimes);
    } else {
      expect(cached.digest === reference.digest).toBe(sameTimes);
    }
    if (regime === 'clamped') expect(cached.digest).toBe(reference.digest);

    for (const [i, k] of keys.entries()) if (!recorded.has(k)) recorded.set(k, reference.steps[i]!.layer);
  }
}

describe('cache law', () => {
  const runs = Number(process.env.LAYERKIT_CACHE_PROPERTY_RUNS ?? 5);
  it.each(['clamped', 'epoch', 'none'] as const)('regime %s: no stale hit, exact reuse, byte identity exactly when times agree, minimal work', async (regime) => {
    const initialOffset = regime === 'clamped' ? fc.constant(1000) : fc.constantFrom(-1000, 1000);
    await fc.assert(
      fc.asyncProperty(fc.array(initialOffset, { minLength: FILES.length, maxLength: FILES.length }), fc.array(fc.array(edits(regime), { maxLength: 3 }), { minLength: 1, maxLength: 4 }), (offsets, rounds) =>
        checkLaw(regime, offsets, rounds),
      ),
      { numRuns: runs },
    );
  }, 240_000);
});
