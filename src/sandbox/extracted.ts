/**
 * Lower layers as overlayfs lower directories: each layer extracted once
 * into `storeRoot/layers-extracted/<diffID hex>/root`, content-addressed and
 * shared by every build and step that uses the store.
 *
 * A lower directory holds the layer as overlayfs wants it, not as it applies:
 * an OCI whiteout `.wh.x` becomes a 0/0 character device `x` (Linux ≥ 5.8
 * lets any user make one), an opaque marker becomes the xattr
 * `user.overlay.opaque=y` on its directory (also `trusted.overlay.opaque`
 * when running as root, which a mount outside a user namespace reads).
 * Everything else goes through the layers module's safe extractor.
 *
 * Writes are atomic: the layer is extracted into a private temporary
 * directory beside the others, which is renamed to its final name only when
 * complete; a concurrent extraction of the same layer (another process)
 * loses the rename and removes its copy.
 * @module
 */
import { lstat, mkdir, readFile, rename, rm, utimes, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex } from '../digest.js';
import { classifyPath } from '../layers/changes/whiteout.js';
import { run } from '../layers/changes/disk.js';
import { extractLayer } from '../layers/extract.js';
import type { Layer } from '../layers/layer.js';
import { readTar, type TarMember } from '../layers/tar/read.js';
import { makeScratchDir } from '../image/store/scratch.js';
import { leaseExtracted } from './extracted-gc.js';
import { SandboxError } from './errors.js';

/**
 * A layer ready to be an overlayfs lower directory.
 *
 * @example
 * ```ts
 * const { root, opaque } = await extractedLayer(layer, store.root);
 * ```
 */
export interface ExtractedLayer {
  /** The diffID's hex digits (the directory's name). */
  hex: string;
  /** The directory to give overlayfs. */
  root: string;
  /** Directories of the layer marked opaque. */
  opaque: string[];
  /** Paths the layer whites out. */
  whiteouts: string[];
}

interface Meta {
  version: 1;
  opaque: string[];
  whiteouts: string[];
  /** Which xattr namespaces carry the opaque markers. */
  xattrs: Array<'user' | 'trusted'>;
  /** Bytes of the layer's files, for `cache du` and pruning (absent in older extractions). */
  bytes?: number;
}

/**
 * How many layers this process extracted and reused, for tests and progress.
 *
 * @example
 * ```ts
 * const before = extractionStats.extracted;
 * await build({ context: '.', executor: sandboxExecutor() });
 * console.log(`${extractionStats.extracted - before} layers extracted`);
 * ```
 */
export const extractionStats = { extracted: 0, reused: 0 };

const inFlight = new Map<string, Promise<ExtractedLayer>>();

/**
 * The directory of the per-layer extractions under a store.
 *
 * @example
 * ```ts
 * await rm(extractedDir(store.root), { recursive: true, force: true }); // drop the cache
 * ```
 */
export function extractedDir(storeRoot: string): string {
  return join(storeRoot, 'layers-extracted');
}

/**
 * The lower directory of `layer`, extracting it on first use.
 *
 * @example
 * ```ts
 * const lower = await extractedLayer(layer, store.root);
 * // mount -t overlay overlay -o lowerdir=${lower.root},…
 * ```
 */
export async function extractedLayer(layer: Layer, storeRoot: string): Promise<ExtractedLayer> {
  const hex = digestHex(await layer.diffId());
  const base = extractedDir(storeRoot);
  const key = `${base}\0${hex}`;
  // Leased before it is looked at, so a prune in another process keeps it (see extracted-gc.ts).
  leaseExtracted(base, hex);
  let pending = inFlight.get(key);
  if (!pending) {
    pending = findOrExtract(layer, base, hex).finally(() => inFlight.delete(key));
    inFlight.set(key, pending);
  }
  return pending;
}

const asRoot = () => process.getuid?.() === 0;

async function findOrExtract(layer: Layer, base: string, hex: string): Promise<ExtractedLayer> {
  const dir = join(base, hex);
  const existing = await readMeta(dir);
  if (existing) {
    if (asRoot() && !existing.xattrs.includes('trusted')) await upgradeToTrusted(dir, existing);
    // meta.json's time is the layer's last use: pruning drops the least recently used first.
    const now = new Date();
    await utimes(join(dir, 'meta.json'), now, now).catch(() => undefined);
    extractionStats.reused++;
    return { hex, root: join(dir, 'root'), opaque: existing.opaque, whiteouts: existing.whiteouts };
  }
  // Named after this process: a partial extraction of a killed build is swept by the next command.
  const tmp = await makeScratchDir(base, `.${hex.slice(0, 12)}`);
  try {
    const meta = await extractInto(layer, tmp);
    await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta));
    try {
      await rename(tmp, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      // Another process finished the same layer first: use theirs.
      await rm(tmp, { recursive: true, force: true });
      return findOrExtract(layer, base, hex);
    }
    extractionStats.extracted++;
    return { hex, root: join(dir, 'root'), opaque: meta.opaque, whiteouts: meta.whiteouts };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function readMeta(dir: string): Promise<Meta | undefined> {
  try {
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Meta;
    return meta.version === 1 ? meta : undefined;
  } catch {
    return undefined;
  }
}

async function extractInto(layer: Layer, tmp: string): Promise<Meta> {
  const whiteouts: string[] = [];
  const opaque: string[] = [];
  let bytes = 0;
  async function* withoutMarkers(members: AsyncIterable<TarMember>): AsyncIterable<TarMember> {
    for await (const member of members) {
      if (member.entry.type === 'file') bytes += member.entry.size;
      const what = classifyPath(member.entry.path);
      if (what.kind === 'whiteout') whiteouts.push(what.target);
      else if (what.kind === 'opaque') opaque.push(what.dir);
      else yield member;
    }
  }
  const root = join(tmp, 'root');
  await extractLayer(withoutMarkers(readTar(layer.uncompressed())), root, { xattrs: true });
  const xattrs: Meta['xattrs'] = asRoot() ? ['user', 'trusted'] : ['user'];
  for (const dir of opaque) {
    await ensureDir(root, dir);
    await keepingTimes(join(root, dir), async () => {
      for (const ns of xattrs) await setXattr(join(root, dir), `${ns}.overlay.opaque`, 'y');
    });
  }
  for (const target of whiteouts) {
    const host = join(root, target);
    // Same layer holds the path too: it survives (layer.md), nothing to hide.
    if (await lstat(host).catch(() => undefined)) continue;
    const parent = target.slice(0, target.lastIndexOf('/')) || '/';
    await ensureDir(root, parent);
    await keepingTimes(join(root, parent), () => makeWhiteout(host));
  }
  return { version: 1, opaque, whiteouts, xattrs, bytes };
}

/** A directory a marker goes in, created (0755, as extractors create missing parents) when the layer has none. */
async function ensureDir(root: string, path: string): Promise<void> {
  let host = root;
  for (const part of path.split('/').filter(Boolean)) {
    host = join(host, part);
    const info = await lstat(host).catch(() => undefined);
    if (!info) {
      await keepingTimes(join(host, '..'), () => mkdir(host, { mode: 0o755 }));
      await chmod(host, 0o755);
    } else if (!info.isDirectory()) {
      throw new SandboxError('SANDBOX_SETUP_FAILED', `layer marker below a non-directory: ${path}`, { path });
    }
  }
}

/**
 * Runs `change` in directory `dir` and puts its times back: markers must not
 * change the directory's mtime (overlayfs copies it up into new layers). A
 * directory without write permission (mode 0555) is opened for the change.
 */
async function keepingTimes(dir: string, change: () => Promise<unknown>): Promise<void> {
  const before = await lstat(dir);
  const writable = (before.mode & 0o200) !== 0 || asRoot();
  if (!writable) await chmod(dir, (before.mode & 0o7777) | 0o200);
  try {
    await change();
  } finally {
    if (!writable) await chmod(dir, before.mode & 0o7777);
    await utimes(dir, before.atime, before.mtime);
  }
}

async function makeWhiteout(host: string): Promise<void> {
  const result = await run('mknod', ['-m', '000', '--', host, 'c', '0', '0']);
  if (result.code !== 0) {
    throw new SandboxError('SANDBOX_SETUP_FAILED', `cannot make an overlay whiteout at ${host}: ${result.stderr.trim() || 'mknod failed'}`, {
      path: host,
      reason: result.missing ? 'mknod not installed' : result.stderr.trim(),
    });
  }
}

async function setXattr(host: string, name: string, value: string): Promise<void> {
  const result = await run('setfattr', ['-h', '-n', name, '-v', value, '--', host]);
  if (result.code !== 0) {
    throw new SandboxError('SANDBOX_SETUP_FAILED', `cannot mark ${host} opaque: ${result.stderr.trim() || 'setfattr failed'}`, {
      path: host,
      reason: result.missing ? 'setfattr (Debian package attr) not installed' : result.stderr.trim(),
    });
  }
}

/** A directory extracted by an unprivileged user, now used by root: add the `trusted.` markers. */
async function upgradeToTrusted(dir: string, meta: Meta): Promise<void> {
  for (const path of meta.opaque) await keepingTimes(join(dir, 'root', path), () => setXattr(join(dir, 'root', path), 'trusted.overlay.opaque', 'y'));
  await writeFile(join(dir, 'meta.json'), JSON.stringify({ ...meta, xattrs: ['user', 'trusted'] }));
}
