/**
 * Context files read straight into the tar writer's blocks: the tar holds
 * the file's bytes, an observer is told the file's digest, and a file that
 * changed since it was listed fails with CONTEXT_CHANGED on that path too.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { observedFileSource } from '../../src/context/content.js';
import { openContext } from '../../src/context/index.js';
import type { Digest } from '../../src/digest.js';
import type { ContentSource } from '../../src/layers/entry.js';
import { readTar } from '../../src/layers/tar/read.js';
import { writeTar } from '../../src/layers/tar/write.js';

const made: string[] = [];
afterAll(async () => {
  for (const dir of made) await rm(dir, { recursive: true, force: true });
});

async function contextWith(files: Record<string, Uint8Array | string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'lk-ctx-sync-'));
  made.push(root);
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(root, name), bytes);
  return root;
}

/** The tar of `sources` (as /0, /1, …) read back: each member's bytes. */
async function throughTar(sources: ContentSource[]): Promise<Buffer[]> {
  const entries = sources.map((content, i) => ({ path: `/${i}`, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: content.size, content }));
  const out: Buffer[] = [];
  for await (const member of readTar(writeTar(entries))) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of member.body) chunks.push(Buffer.from(chunk));
    out.push(Buffer.concat(chunks));
  }
  return out;
}

describe('context files through the tar writer', () => {
  it('property: the tar holds each file whole and the observer gets its sha256, across block boundaries', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 700_000 }), { minLength: 1, maxLength: 5 }), async (sizes) => {
        const files = Object.fromEntries(sizes.map((size, i) => [`f${i}`, Buffer.alloc(size, i + 1).fill(7, 0, size >> 1)]));
        const root = await contextWith(files);
        const ctx = await openContext(root, { xattrs: false });
        const seen = new Map<string, Digest>();
        const sources = await Promise.all(sizes.map(async (_, i) => observedFileSource(await ctx.contentSource(`/f${i}`), { read: (path, digest) => seen.set(path, digest) })!));
        const members = await throughTar(sources);
        sizes.forEach((_, i) => {
          const bytes = files[`f${i}`]!;
          expect(Buffer.compare(members[i]!, bytes)).toBe(0);
          expect(seen.get(`/f${i}`)).toBe(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
        });
      }),
      { numRuns: 15 },
    );
  });

  for (const [what, change] of [
    ['shrank', (path: string) => truncate(path, 3)],
    ['grew', (path: string) => writeFile(path, 'x'.repeat(5000))],
    ['was replaced', async (path: string) => {
      await writeFile(`${path}.new`, 'y'.repeat(1000));
      await rename(`${path}.new`, path);
    }],
  ] as const) {
    it(`a file that ${what} after the listing fails with CONTEXT_CHANGED and reports no digest`, async () => {
      const root = await contextWith({ f: 'z'.repeat(1000) });
      const ctx = await openContext(root, { xattrs: false });
      const seen: string[] = [];
      const source = observedFileSource(await ctx.contentSource('/f'), { read: (path) => seen.push(path) })!;
      await change(join(root, 'f'));
      await expect(throughTar([source])).rejects.toMatchObject({ code: 'CONTEXT_CHANGED', data: { path: '/f' } });
      expect(seen).toEqual([]);
    });
  }
});
