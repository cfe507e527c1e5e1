/**
 * Small file-system helpers of the sandbox: the files Docker provides in
 * every container, stubs for mount points, and removing step directories
 * that a user namespace left unwritable.
 * @module
 */
import { chmod, lstat, mkdir, readdir, readFile, rm, utimes, writeFile, lchown } from 'node:fs/promises';
import { join } from 'node:path';
import { useStubbornTreeRemover } from '../image/store/scratch.js';
import { removeOwnedTree } from './id-map.js';
import type { DirMetadata, MountPoint } from './rootfs-paths.js';

/** BuildKit's default hostname (`executor/oci/hosts.go`). */
export const DEFAULT_HOSTNAME = 'buildkitsandbox';

/** `/etc/hosts` as BuildKit writes it for a step. */
export function hostsFile(hostname: string): string {
  return `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
}

/** Public resolvers, used when the host has no `/etc/resolv.conf` (BuildKit's fallback too). */
const DEFAULT_RESOLV = 'nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n';

/** The step's `/etc/resolv.conf`: the host's, else public resolvers. */
export async function resolvConf(path = '/etc/resolv.conf'): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return /^\s*nameserver\s/m.test(text) ? text : DEFAULT_RESOLV;
  } catch {
    return DEFAULT_RESOLV;
  }
}

const asRoot = () => process.getuid?.() === 0;

/**
 * Writes the stubs of mount points into `dir` (an overlay lower of its own,
 * or the materialized root): shadowed directories with the image's
 * metadata, missing ones 0755, files empty. Returns the paths created.
 */
export async function writeStubs(dir: string, shadows: DirMetadata[], create: MountPoint[], options: { onlyMissing?: boolean } = {}): Promise<string[]> {
  const created: string[] = [];
  const entries = [...shadows.map((s) => ({ path: s.path, kind: 'dir' as const, meta: s })), ...create.map((c) => ({ ...c, meta: undefined }))];
  entries.sort((a, b) => a.path.length - b.path.length);
  for (const entry of entries) {
    const host = join(dir, entry.path);
    if (options.onlyMissing && (await lstat(host).catch(() => undefined))) continue;
    if (entry.kind === 'dir') await mkdir(host, { mode: 0o755 });
    else await writeFile(host, '', { mode: 0o644 });
    created.push(entry.path);
  }
  // Metadata last (creating children changes a directory's mtime), deepest first.
  for (const meta of [...shadows].sort((a, b) => b.path.length - a.path.length)) {
    const host = join(dir, meta.path);
    if (options.onlyMissing && !created.includes(meta.path)) continue;
    if (asRoot()) await lchown(host, meta.uid, meta.gid);
    await chmod(host, meta.mode);
    await utimes(host, meta.mtime, meta.mtime);
  }
  return created;
}

/**
 * Removes a step directory. Files a user namespace made can be
 * unwritable to the caller outside it (overlayfs leaves its `work/work`
 * at mode 0), so directories are opened up before retrying.
 */
export async function removeTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY') throw err;
  }
  await openUp(dir);
  try {
    await rm(dir, { recursive: true, force: true });
  } catch {
    // Files of subordinate ids (a sandbox killed before it handed them back): removed through the namespace.
    await removeOwnedTree(dir);
  }
}

// A step directory of a process killed mid-RUN holds what only this module can remove (its
// overlay work directory at mode 0, files of subordinate ids): the store's sweep removes it so.
useStubbornTreeRemover(removeTree);

async function openUp(dir: string): Promise<void> {
  const info = await lstat(dir).catch(() => undefined);
  if (!info?.isDirectory()) return;
  await chmod(dir, 0o700).catch(() => {});
  for (const name of await readdir(dir).catch(() => [] as string[])) await openUp(join(dir, name));
}
