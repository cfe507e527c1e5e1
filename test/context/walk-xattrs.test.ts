import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openContext } from '../../src/context/index.js';
import type { XattrReader } from '../../src/context/xattrs.js';

const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

/** A reader that names each path in an attribute and answers after a random delay. */
function slowReader(delays: number[]): XattrReader & { calls: number } {
  let call = 0;
  const reader = {
    calls: 0,
    async read(paths: readonly string[]) {
      const delay = delays[call++ % delays.length]!;
      reader.calls++;
      await new Promise((r) => setTimeout(r, delay));
      return new Map(paths.filter((_, i) => i % 3 === 0).map((p) => [p, { 'user.path': new TextEncoder().encode(p) }]));
    },
  };
  return reader;
}

describe('context walk with batched xattr reads', () => {
  it('yields the same entries in the same order with their own xattrs, however late the reads answer (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 6000 }), fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 2, maxLength: 4 }), async (files, delays) => {
        const root = await mkdtemp(join(tmpdir(), 'layerkit-walk-xattrs-'));
        roots.push(root);
        for (let d = 0; d < 4; d++) await mkdir(join(root, `d${d}`));
        for (let i = 0; i < files; i++) await writeFile(join(root, `d${i % 4}`, `f${i}`), '');
        const list = async (reader: XattrReader) => {
          const out: string[] = [];
          for await (const e of (await openContext(root, { xattrs: reader })).walk('/')) {
            const attr = e.xattrs?.['user.path'];
            out.push(`${e.path} ${attr ? new TextDecoder().decode(attr) : '-'}`);
          }
          return out;
        };
        const prompt = await list(slowReader([0]));
        const late = await list(slowReader(delays));
        expect(late).toEqual(prompt);
        const expected = ['/'];
        for (let d = 0; d < 4; d++) {
          expected.push(`/d${d}`);
          const names = Array.from({ length: files }, (_, i) => i).filter((i) => i % 4 === d).map((i) => `f${i}`).sort();
          for (const n of names) expected.push(`/d${d}/${n}`);
        }
        expect(prompt.map((l) => l.split(' ')[0])).toEqual(expected);
        expect(prompt.filter((l) => !l.endsWith(' -')).length).toBeGreaterThan(0);
        for (const line of prompt) {
          const [path, attr] = line.split(' ');
          if (attr !== '-') expect(attr!.endsWith(path === '/' ? '' : path!)).toBe(true);
        }
        await rm(root, { recursive: true, force: true });
      }),
      { numRuns: 6 },
    );
  }, 120_000);
});
