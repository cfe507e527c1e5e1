/**
 * The cache law: for any sequence of context edits and rebuilds, a cached
 * build gives the byte-identical image a build without cache gives for the
 * same inputs (no stale hit, ever), and it reruns exactly the steps from the
 * first one whose inputs were never built before.
 *
 * Every file time is at or after SOURCE_DATE_EPOCH, so both builds clamp
 * times alike: mtimes are not part of a key (as in BuildKit), so a touch
 * below the epoch would change a build without cache and not a cached one.
 *
 * LAYERKIT_CACHE_PROPERTY_RUNS raises the number of runs (default 6).
 */
import { chmod, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { build } from '../../src/build/build.js';
import type { BuildOptions } from '../../src/build/options.js';
import { freshStore, writeContext } from './helpers.js';

const FILES = ['a.txt', 'b.txt', 'dir/c.txt', 'ignored.txt'] as const;
type File = (typeof FILES)[number];

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

type Edit =
  | { kind: 'write'; file: File; content: string }
  | { kind: 'touch'; file: File; ahead: number }
  | { kind: 'chmod'; file: File; mode: number };

const file = fc.constantFrom(...FILES);
const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), file, content: fc.constantFrom('', 'x', 'y', 'xy', 'longer content') }),
  fc.record({ kind: fc.constant('touch' as const), file, ahead: fc.integer({ min: 1, max: 10_000 }) }),
  fc.record({ kind: fc.constant('chmod' as const), file, mode: fc.constantFrom(0o644, 0o755, 0o600) }),
);

interface FileState {
  content: string;
  mode: number;
}

async function apply(context: string, state: Map<File, FileState>, e: Edit): Promise<void> {
  const path = join(context, e.file);
  const current = state.get(e.file)!;
  switch (e.kind) {
    case 'write':
      await writeFile(path, e.content);
      state.set(e.file, { ...current, content: e.content });
      break;
    case 'touch': {
      // Later than the epoch, so both builds clamp it alike: only the key could tell them apart.
      const t = Date.now() / 1000 + e.ahead;
      await utimes(path, t, t);
      break;
    }
    case 'chmod':
      await chmod(path, e.mode);
      state.set(e.file, { ...current, mode: e.mode });
      break;
  }
}

/** The inputs of steps 0..i as the model sees them: what a correct cache keys on. */
function prefixKeys(state: Map<File, FileState>): string[] {
  const out: string[] = [];
  let acc = '';
  for (const step of STEPS) {
    acc += JSON.stringify([step.line, step.reads.map((f) => state.get(f))]);
    out.push(acc);
  }
  return out;
}

const base: BuildOptions = { dockerfileText: DOCKERFILE, sourceDateEpoch: EPOCH, xattrs: false };

describe('cache law', () => {
  it('cached builds equal builds without cache, and rerun exactly the steps from the first unseen one', async () => {
    const runs = Number(process.env.LAYERKIT_CACHE_PROPERTY_RUNS ?? 6);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(edit, { maxLength: 3 }), { minLength: 1, maxLength: 4 }), async (rounds) => {
        const initial: Record<string, string> = { 'a.txt': 'a', 'b.txt': 'b', 'dir/c.txt': 'c', 'ignored.txt': 'i', '.dockerignore': 'ignored.txt\n' };
        const context = await writeContext(Object.fromEntries(Object.entries(initial).map(([path, content]) => [path, { content, mtime: EPOCH + 1000 }])));
        for (const f of FILES) await chmod(join(context, f), 0o644);
        const state = new Map<File, FileState>(FILES.map((f) => [f, { content: initial[f]!, mode: 0o644 }]));
        const store = await freshStore();
        const seen = new Set<string>();
        for (const edits of [[], ...rounds]) {
          for (const e of edits) await apply(context, state, e);
          const keys = prefixKeys(state);
          const firstNew = keys.findIndex((k) => !seen.has(k));
          const expectedMisses = firstNew < 0 ? 0 : STEPS.length - firstNew;
          const cachedBuild = await build({ ...base, context, store });
          const reference = await build({ ...base, context, store: await freshStore(), noCache: true });
          expect(cachedBuild.digest).toBe(reference.digest);
          expect(cachedBuild.steps.map((s) => s.layer)).toEqual(reference.steps.map((s) => s.layer));
          expect(cachedBuild.cache.misses).toBe(expectedMisses);
          expect(cachedBuild.steps.map((s) => s.cached)).toEqual(STEPS.map((_, i) => i < STEPS.length - expectedMisses));
          for (const k of keys) seen.add(k);
        }
      }),
      { numRuns: runs },
    );
  });
});
