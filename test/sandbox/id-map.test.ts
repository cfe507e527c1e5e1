/**
 * The id map of the rootless sandbox: reading `/etc/subuid`-style text, the
 * two directions of the map, and the pass that hands a tree's files back to
 * root while listing their owners (run for real where the test can chown).
 */
import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mapsId, ownersBackScript, parseSubordinateIds, readOwners, toHost, toNamespace, unshareIdArgs } from '../../src/sandbox/id-map.js';
import { tempDir } from '../builder/helpers.js';

const run = promisify(execFile);

describe('subordinate id ranges', () => {
  it('reads the first range of the user, by name or by uid, and ignores what is not a range', () => {
    const text = ['# comment', 'bob:200000:65536', 'alice:x:10', 'alice:100000:0', '1000:300000:1000', 'alice:400000:65536', 'huge:4294967000:65536', ''].join('\n');
    expect(parseSubordinateIds(text, { name: 'alice', uid: 1000 })).toEqual({ start: 300000, count: 1000 });
    expect(parseSubordinateIds(text, { name: 'alice', uid: 1001 })).toEqual({ start: 400000, count: 65536 });
    expect(parseSubordinateIds(text, { name: 'bob', uid: 5 })).toEqual({ start: 200000, count: 65536 });
    expect(parseSubordinateIds(text, { name: 'huge', uid: 6 })).toBeUndefined();
    expect(parseSubordinateIds(text, { name: 'nobody', uid: 65534 })).toBeUndefined();
  });

  it('maps root to the caller and 1…N to the range, and back (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1000, max: 2 ** 31 }), fc.integer({ min: 1, max: 1 << 20 }), fc.integer({ min: 0, max: 999 }), (start, count, caller) => {
        const range = { start, count };
        for (const id of [0, 1, count, Math.min(count, 1 + (start % count))]) {
          expect(mapsId(range, id)).toBe(true);
          expect(toNamespace(range, toHost(range, id, caller), caller)).toBe(id);
        }
        expect(mapsId(range, count + 1)).toBe(false);
        expect(toNamespace(range, start + count, caller)).toBeUndefined();
        expect(toNamespace(range, start - 1, caller)).toBeUndefined();
      }),
    );
  });

  it('asks unshare for the map (one id without a range)', () => {
    expect(unshareIdArgs(undefined)).toEqual(['--user', '--map-root-user']);
    expect(unshareIdArgs({ uids: { start: 100000, count: 65536 }, gids: { start: 200000, count: 1000 } })).toEqual([
      '--user',
      '--map-root-user',
      '--map-users=100000,1,65536',
      '--map-groups=200000,1,1000',
    ]);
  });
});

describe('handing files back to root after the command', () => {
  it('lists the owners and modes of what is not root\'s, then chowns it to root; set-id bits are kept in the list', async (t) => {
    if (process.getuid?.() !== 0) {
      const reason = 'chowning test files to other ids needs root (the rootless path runs the same script inside its namespace, see rootless-ids.test.ts)';
      // CI runs as root: there this test must run.
      if (process.env.CI) throw new Error(reason);
      console.warn(`skipping: ${reason}`);
      return t.skip();
    }
    const dir = await tempDir('layerkit-owners-');
    const tree = join(dir, 'u');
    await mkdir(join(tree, 'a dir/sub'), { recursive: true });
    await writeFile(join(tree, 'a dir/sub/odd\nname'), 'x');
    await writeFile(join(tree, 'root-file'), 'x');
    await writeFile(join(tree, 'suid'), 'x');
    await symlink('suid', join(tree, 'link'));
    await chown(join(tree, 'a dir'), 1000, 1000);
    await chown(join(tree, 'a dir/sub/odd\nname'), 5, 0);
    await chown(join(tree, 'suid'), 7, 8);
    await chmod(join(tree, 'suid'), 0o4755);
    await run('chown', ['-h', '3:4', join(tree, 'link')]);
    const list = join(dir, 'owners');
    await run('sh', ['-c', ownersBackScript(tree, list)]);
    const owners = await readOwners(list);
    expect(Object.fromEntries(owners)).toEqual({
      '/a dir': { uid: 1000, gid: 1000, mode: 0o755 },
      '/a dir/sub/odd\nname': { uid: 5, gid: 0, mode: 0o644 },
      '/suid': { uid: 7, gid: 8, mode: 0o4755 },
      '/link': { uid: 3, gid: 4, mode: 0o777 },
    });
    for (const path of ['a dir', 'a dir/sub/odd\nname', 'suid', 'link', 'root-file']) {
      const st = await lstat(join(tree, path));
      expect([path, st.uid, st.gid]).toEqual([path, 0, 0]);
    }
  });
});
