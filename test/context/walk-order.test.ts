/**
 * The context walk against its definition: depth-first from the start,
 * children in byte order, `--exclude` applied to paths relative to the start,
 * an excluded directory yielded only just before its first kept descendant
 * (when the patterns have exceptions). The model below is that definition
 * written as plain recursion over the same listings.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NO_PARENT_INFO, PatternMatcher, type MatchInfo } from '../../src/context/patternmatcher.js';
import { ContextTree, type ContextNode } from '../../src/context/tree.js';
import { walkNodes } from '../../src/context/walk.js';

const runs = (n: number) => ({ numRuns: Number(process.env.LAYERKIT_PROPERTY_RUNS ?? 0) || n });

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

async function model(tree: ContextTree, start: ContextNode, excludes: PatternMatcher | undefined): Promise<string[]> {
  const out = [''];
  const pending: string[] = [];
  const walk = async (dir: ContextNode, dirRel: string, info: MatchInfo): Promise<void> => {
    for (const node of await tree.list(dir)) {
      const name = node.path.slice(node.path.lastIndexOf('/') + 1);
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      const { matched, info: childInfo } = excludes ? excludes.matchesWithParentInfo(rel, info) : { matched: false, info: NO_PARENT_INFO };
      if (!matched) {
        out.push(...pending.splice(0), rel);
        if (node.type === 'dir') await walk(node, rel, childInfo);
      } else if (node.type === 'dir' && excludes!.hasExclusions) {
        pending.push(rel);
        await walk(node, rel, childInfo);
        if (pending[pending.length - 1] === rel) pending.pop();
      }
    }
  };
  if (start.type === 'dir') await walk(start, '', NO_PARENT_INFO);
  return out;
}

const name = fc.constantFrom('a', 'b', 'a-b', 'a.b', 'x', 'keep', 'd');
const path = fc.array(name, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
const pattern = fc.oneof(
  fc.constantFrom('*', 'a', 'b', '**/a', 'a/*', 'x*', 'keep', 'd/**'),
  fc.constantFrom('!keep', '!a/b', '!**/x', '!d/a', '!a/keep/x'),
);

describe('walkNodes', () => {
  it('walks as the recursive definition does, from the root or a directory, with any excludes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(path, { maxLength: 25 }), fc.array(pattern, { maxLength: 4 }), fc.constantFrom('/', '/a', '/d'), async (files, patterns, from) => {
        const root = await mkdtemp(join(tmpdir(), 'layerkit-walk-order-'));
        roots.push(root);
        for (const file of files) {
          // A path that is a prefix of another is a directory; the rest are files.
          const dir = files.some((other) => other.startsWith(file + '/'));
          if (dir) await mkdir(join(root, file), { recursive: true });
          else {
            await mkdir(join(root, file, '..'), { recursive: true });
            await writeFile(join(root, file), file);
          }
        }
        const tree = new ContextTree(root);
        let start = await tree.root();
        for (const part of from.split('/').filter(Boolean)) start = (await tree.child(start, part)) ?? start;
        const excludes = patterns.some((p) => !p.startsWith('!')) ? new PatternMatcher(patterns) : undefined;
        const walked: string[] = [];
        for await (const { node, rel } of walkNodes(tree, start, excludes)) {
          walked.push(rel);
          expect(node.path).toBe(rel === '' ? start.path : start.path === '/' ? `/${rel}` : `${start.path}/${rel}`);
        }
        expect(walked).toEqual(await model(tree, start, excludes));
        await rm(root, { recursive: true, force: true });
      }),
      runs(80),
    );
  });
});
