/**
 * Test plumbing for the union fs: flattening layers with the layers module
 * (an implementation independent of the union's own stacking), writing a
 * tree to a real directory, temp dirs, tool lookup.
 */
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Entry } from '../../src/layers/entry.js';
import { applyEntries } from '../../src/layers/changes/apply.js';
import { Tree } from '../../src/layers/tree.js';
import { hostFs, type FsLike } from '../../src/testing/unionfs.js';

/** The layers module's sequential application of `layers` onto an empty tree. */
export function flattenLayers(layers: readonly (readonly Entry[])[]): Tree {
  let tree = Tree.empty();
  for (const layer of layers) tree = applyEntries(tree, layer);
  return tree;
}

/**
 * Drops whiteouts that hide nothing: of paths the layers below do not have,
 * or inside a directory that the same layer makes opaque.
 */
export function dropUselessWhiteouts(layers: Entry[][]): Entry[][] {
  return layers.map((layer, i) => {
    const below = flattenLayers(layers.slice(0, i));
    const opaque = new Set(layer.filter((e) => e.path.endsWith('/.wh..wh..opq')).map((e) => e.path.slice(0, -'/.wh..wh..opq'.length)));
    return layer.filter((entry) => {
      const slash = entry.path.lastIndexOf('/');
      const name = entry.path.slice(slash + 1);
      if (!name.startsWith('.wh.') || name === '.wh..wh..opq') return true;
      const parts = entry.path.split('/');
      for (let n = 2; n < parts.length; n++) if (opaque.has(parts.slice(0, n).join('/'))) return false;
      return below.has(`${entry.path.slice(0, slash)}/${name.slice(4)}`);
    });
  });
}

export const isRoot = process.getuid?.() === 0;

async function readAll(entry: Entry): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  if (entry.content) for await (const c of entry.content.open()) chunks.push(c);
  return Buffer.concat(chunks);
}

/**
 * Writes entries (parents first, hardlinks naming earlier entries) under
 * `dir`, as a careful extractor would: modes exact (umask undone), owners
 * when running as root, directory modes last so read-only directories can
 * still be filled. Fifos need `mkfifo`.
 */
export async function writeEntries(entries: Iterable<Entry>, dir: string): Promise<void> {
  const dirs: [string, number][] = [];
  for (const entry of entries) {
    const host = join(dir, entry.path);
    if (entry.path === '/') {
      dirs.push([dir, entry.mode]);
      if (isRoot) await fsp.lchown(dir, entry.uid, entry.gid);
      continue;
    }
    switch (entry.type) {
      case 'dir':
        await fsp.mkdir(host);
        dirs.push([host, entry.mode]);
        break;
      case 'file':
        await fsp.writeFile(host, await readAll(entry), { flag: 'wx' });
        await fsp.chmod(host, entry.mode);
        break;
      case 'symlink':
        await fsp.symlink(entry.linkname ?? '', host);
        break;
      case 'hardlink':
        await fsp.link(join(dir, entry.linkname ?? ''), host);
        continue;
      case 'fifo':
        execFileSync('mkfifo', ['-m', (entry.mode & 0o777).toString(8), host]);
        break;
      default:
        throw new Error(`cannot write ${entry.type} ${entry.path} in a test`);
    }
    if (isRoot) await fsp.lchown(host, entry.uid, entry.gid);
    if (entry.type === 'file' && entry.mode & 0o6000) await fsp.chmod(host, entry.mode); // chown cleared setuid/setgid
  }
  for (const [host, mode] of dirs.reverse()) await fsp.chmod(host, mode);
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'unionfs-'): Promise<string> {
  return fsp.mkdtemp(join(tmpdir(), prefix));
}

/** Removes a test directory even when it holds read-only directories. */
export async function removeDir(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true }).catch(async () => {
    execFileSync('chmod', ['-R', 'u+rwx', dir]);
    await fsp.rm(dir, { recursive: true, force: true });
  });
}

/** `node:fs` rooted at `dir`. */
export function hostView(dir: string): FsLike {
  return hostFs(dir, fsp);
}

/** Absolute path of a tool on PATH, or undefined. */
export async function which(tool: string): Promise<string | undefined> {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (!d) continue;
    try {
      await fsp.access(join(d, tool), constants.X_OK);
      return join(d, tool);
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/**
 * A requirement of an interop test: available, or a reason to skip that is
 * printed — and under `CI=true` a missing requirement fails the test file.
 */
export function requirement(name: string, reason: string | undefined): boolean {
  if (reason === undefined) return true;
  if (process.env.CI) throw new Error(`${name} unavailable in CI: ${reason}`);
  console.warn(`skipping ${name}: ${reason}`);
  return false;
}
