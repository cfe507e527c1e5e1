/**
 * overlayfs upperdir → OCI layer, against real overlay mounts made here
 * (`unshare` + `mount -t overlay`): the converted layer applied onto the lower
 * directory must give exactly what the mount showed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { apply } from '../../src/layers/changes/apply.js';
import { LayerFormatError } from '../../src/layers/changes/errors.js';
import { entriesFromDirectory } from '../../src/layers/from-directory.js';
import { extractOverlayLayer, layerFromOverlayUpper, OverlayError, overlayUpperEntries } from '../../src/layers/overlay.js';
import { layerFromEntries } from '../../src/layers/from-entries.js';
import { dir, file, whiteout } from './changes-helpers.js';
import { readTar } from '../../src/layers/tar/read.js';
import { Tree } from '../../src/layers/tree.js';
import { snapshotDir, snapshotWithoutRoot, tempDir } from './extract-helpers.js';
import { attrMissing, attrTools } from '../support/attr-tools.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** The build step every mount runs: delete, delete a tree and recreate it, modify, chmod, add. */
const STEP = 'rm a && rm -rf d && mkdir -p d/new && echo n > d/new/n && echo more >> mod && chmod 700 keep && rm keep/k && mkdir fresh && echo f > fresh/f';

async function lowerDir(root: string): Promise<string> {
  const lower = join(root, 'lower');
  for (const d of ['d/sub', 'keep']) await mkdir(join(lower, d), { recursive: true });
  for (const [p, text] of [['a', 'a'], ['d/b', 'b'], ['d/sub/c', 'c'], ['keep/k', 'k'], ['keep/stay', 's'], ['mod', 'm']]) await writeFile(join(lower, p!), `${text}\n`);
  execFileSync('ln', [join(lower, 'mod'), join(lower, 'mod2')]);
  return lower;
}

/** Mounts lower+upper, runs STEP in the merged view, copies the view out; returns false (with why) if it cannot. */
function runOverlay(root: string, userns: boolean): { ok: true } | { ok: false; why: string } {
  for (const d of ['upper', 'work', 'merged', 'view']) execFileSync('mkdir', ['-p', join(root, d)]);
  const opts = `${userns ? 'userxattr,' : ''}lowerdir=${root}/lower,upperdir=${root}/upper,workdir=${root}/work`;
  const script = `mount -t overlay overlay -o ${opts} ${root}/merged && cd ${root}/merged && ${STEP} && cp -a . ${root}/view/`;
  const args = userns ? ['--user', '--map-root-user', '--mount', 'sh', '-c', script] : ['--mount', 'sh', '-c', script];
  const r = spawnSync('unshare', args, { encoding: 'utf8' });
  if (r.error) return { ok: false, why: `unshare: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, why: `unshare/mount failed: ${r.stderr.trim()}` };
  return { ok: true };
}

function probe(userns: boolean): string | null {
  if (!userns && process.getuid?.() !== 0) return 'a privileged overlay mount needs root';
  const r = spawnSync('unshare', userns ? ['--user', '--map-root-user', '--mount', 'true'] : ['--mount', 'true'], { encoding: 'utf8' });
  if (r.error) return `unshare unavailable: ${r.error.message}`;
  return r.status === 0 ? null : `unshare refused: ${r.stderr.trim()}`;
}

for (const userns of [true, false]) {
  // Reading an upperdir needs getfattr: opaque directories are only xattrs.
  const why = probe(userns) ?? attrMissing;
  const label = userns ? 'unprivileged (user namespace, user.overlay.* xattrs)' : 'privileged (trusted.overlay.* xattrs)';
  if (why && !process.env.CI) console.warn(`skipping overlay ${label}: ${why}`);
  describe.runIf(why === null || Boolean(process.env.CI))(`a real overlay upperdir, ${label}`, () => {
    it('converts to the expected layer, which applied onto the lower gives the merged view', async () => {
      const t = await tempDir('layerkit-overlay-');
      cleanups.push(t.cleanup);
      const lower = await lowerDir(t.path);
      const mounted = runOverlay(t.path, userns);
      if (!mounted.ok) throw new Error(mounted.why);
      const upper = join(t.path, 'upper');

      const listed: string[] = [];
      for await (const m of readTar(layerFromOverlayUpper(upper, { compression: 'none' }).uncompressed())) {
        listed.push(`${m.entry.type} ${m.name}${m.entry.xattrs ? ' ' + Object.keys(m.entry.xattrs).join(',') : ''}`);
      }
      expect(listed).toEqual([
        'file .wh.a',
        'dir d/',
        'file d/.wh..wh..opq',
        'dir d/new/',
        'file d/new/n',
        'dir fresh/',
        'file fresh/f',
        'dir keep/',
        'file keep/.wh.k',
        'file mod',
      ]);
      const lowerTree = Tree.fromEntries(await entriesFromDirectory(lower, { xattrs: false }));
      const result = await apply(lowerTree, layerFromOverlayUpper(upper));
      expect(await snapshotWithoutRoot(result)).toEqual(await snapshotDir(join(t.path, 'view')));
      expect(result.hardlinks('/mod2')).toEqual(['/mod2']); // copy-up broke the lower link
    });
  });
}

describe.runIf(attrTools('overlay upperdirs made by hand (setfattr)'))('overlay upperdirs made by hand', () => {
  async function upper(): Promise<string> {
    const t = await tempDir('layerkit-upper-');
    cleanups.push(t.cleanup);
    return t.path;
  }

  it('reads the xattr whiteout form, ignores opaque=x, and drops overlay xattrs', async () => {
    const u = await upper();
    await mkdir(join(u, 'd'));
    await mkdir(join(u, 'o'));
    await writeFile(join(u, 'd/gone'), '');
    await writeFile(join(u, 'd/kept'), 'k');
    execFileSync('setfattr', ['-n', 'user.overlay.whiteout', '-v', '""', join(u, 'd/gone')]);
    execFileSync('setfattr', ['-n', 'user.overlay.opaque', '-v', 'x', join(u, 'd')]);
    execFileSync('setfattr', ['-n', 'user.overlay.opaque', '-v', 'y', join(u, 'o')]);
    execFileSync('setfattr', ['-n', 'user.keep', '-v', '1', join(u, 'd/kept')]);
    const entries = await overlayUpperEntries(u);
    expect(entries.map((e) => [e.path, e.type, Object.keys(e.xattrs ?? {})])).toEqual([
      ['/d', 'dir', []],
      ['/d/.wh.gone', 'file', []],
      ['/d/kept', 'file', ['user.keep']],
      ['/o', 'dir', []],
      ['/o/.wh..wh..opq', 'file', []],
    ]);
    expect(entries[1]).toMatchObject({ size: 0, mode: 0o600, uid: 0, gid: 0, mtime: 0 });
  });

  it('refuses redirect_dir and metacopy upperdirs, and names that read as whiteouts', async () => {
    const u = await upper();
    await mkdir(join(u, 'moved'));
    execFileSync('setfattr', ['-n', 'user.overlay.redirect', '-v', '/old', join(u, 'moved')]);
    await expect(overlayUpperEntries(u)).rejects.toBeInstanceOf(OverlayError);
    const v = await upper();
    await writeFile(join(v, 'f'), '');
    execFileSync('setfattr', ['-n', 'user.overlay.metacopy', '-v', '""', join(v, 'f')]);
    await expect(overlayUpperEntries(v)).rejects.toMatchObject({ code: 'OVERLAY_UNSUPPORTED', data: { path: '/f' } });
    const w = await upper();
    await writeFile(join(w, '.wh.sneaky'), '');
    await expect(overlayUpperEntries(w)).rejects.toBeInstanceOf(LayerFormatError);
  });
});

const usernsWhy = probe(true);
const canMarkOpaque = usernsWhy === null && attrTools('mounting written overlay layer directories (opaque markers are xattrs)');
describe.runIf(usernsWhy === null || Boolean(process.env.CI))('writing a layer as an overlay layer directory', () => {
  const layer = () =>
    layerFromEntries([
      whiteout('/.wh.a'),
      dir('/d', 0o750),
      file('/d/.wh..wh..opq'),
      dir('/d/new'),
      file('/d/new/n', 'n'),
      dir('/keep', 0o700),
      whiteout('/.wh.keep'),
      file('/keep/fresh', 'fresh'),
      file('/mod', 'new mod'),
      file('/made/deep/f', 'f'),
      whiteout('/.wh.never-there'),
    ]);

  for (const [form, role] of [['device', 'upper'], ['xattr', 'lower']] as const) {
    it.runIf(canMarkOpaque || Boolean(process.env.CI))(`mounts (${form} whiteouts, as ${role}dir) as the layer applied onto the lower`, async () => {
      const t = await tempDir('layerkit-overlay-write-');
      cleanups.push(t.cleanup);
      const lower = await lowerDir(t.path);
      const layerDir = join(t.path, 'layer');
      await extractOverlayLayer(layer(), layerDir, { whiteoutForm: form, xattrNamespace: 'user' });
      for (const d of ['work', 'merged', 'view']) await mkdir(join(t.path, d));
      const opts = role === 'upper' ? `lowerdir=${lower},upperdir=${layerDir},workdir=${t.path}/work` : `lowerdir=${layerDir}:${lower}`;
      const script = `mount -t overlay overlay -o userxattr,${opts} ${t.path}/merged && cp -a ${t.path}/merged/. ${t.path}/view/`;
      const r = spawnSync('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', script], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      const lowerTree = Tree.fromEntries(await entriesFromDirectory(lower, { xattrs: false }));
      const expected = await snapshotWithoutRoot(await apply(lowerTree, layer()));
      expect(await snapshotDir(join(t.path, 'view'))).toEqual(expected);
      expect(await snapshotWithoutRoot(await apply(lowerTree, layerFromOverlayUpper(layerDir)))).toEqual(expected);
    });
  }

  it('refuses a non-empty directory', async () => {
    const t = await tempDir('layerkit-overlay-write-');
    cleanups.push(t.cleanup);
    await writeFile(join(t.path, 'x'), '');
    await expect(extractOverlayLayer(layer(), t.path)).rejects.toMatchObject({ code: 'TARGET_NOT_EMPTY' });
  });
});
