/**
 * The file-system side of extraction: confined lookups that never follow a
 * symlink, metadata setters that never follow one either, special files, and
 * extended attributes through `setfattr` (Node has no xattr API).
 * @module
 */
import { execFile } from 'node:child_process';
import type { Stats } from 'node:fs';
import { chmod, lchown, lstat, lutimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entry } from '../entry.js';
import { relativePath } from '../path.js';

/** What a confined lookup found at a path. */
export type Found =
  | { kind: 'missing' }
  /** An ancestor is a file, a device… (nothing can be below it). */
  | { kind: 'blocked'; at: string }
  /** An ancestor is a symlink. */
  | { kind: 'symlink'; at: string }
  | { kind: 'found'; stat: Stats; host: string };

/**
 * Looks `path` up below `root` with `lstat` on every component, outermost
 * first, fresh each time (no cache of "safe" directories: CVE-2021-32803).
 * The final component itself is not followed either.
 */
export async function lookup(root: string, path: string): Promise<Found> {
  if (path === '/') return { kind: 'found', stat: await lstat(root), host: root };
  let host = root;
  const parts = path.slice(1).split('/');
  for (let i = 0; i < parts.length; i++) {
    host = join(host, parts[i]!);
    const stat = await lstatOrNull(host);
    if (!stat) return { kind: 'missing' };
    if (i === parts.length - 1) return { kind: 'found', stat, host };
    const at = '/' + parts.slice(0, i + 1).join('/');
    if (stat.isSymbolicLink()) return { kind: 'symlink', at };
    if (!stat.isDirectory()) return { kind: 'blocked', at };
  }
  return { kind: 'missing' };
}

/** `lstat`, or null when nothing is there (ENOENT, or ENOTDIR from a file in the way). */
export async function lstatOrNull(host: string): Promise<Stats | null> {
  try {
    return await lstat(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/** The host path of an entry path below a directory on disk. */
export function hostPath(root: string, path: string): string {
  return path === '/' ? root : join(root, relativePath(path));
}

/** How metadata is applied. */
export interface MetadataPolicy {
  /** chown to the entry's uid/gid (only root can). */
  owners: boolean;
}

/**
 * Sets owner, mode and mtime on a path without following a final symlink
 * (chmod is skipped for symlinks: Linux has no lchmod and ignores their mode).
 * Owner first: chown clears set-id bits, chmod puts them back.
 */
export async function setMetadata(host: string, entry: Entry, policy: MetadataPolicy): Promise<void> {
  if (policy.owners) await lchown(host, entry.uid, entry.gid);
  if (entry.type !== 'symlink') await chmod(host, entry.mode & 0o7777);
  await lutimes(host, entry.mtime, entry.mtime);
}

/** Runs a program, resolving with its exit code and stderr. */
export function run(program: string, args: string[]): Promise<{ code: number; stderr: string; missing: boolean }> {
  return new Promise((resolve) => {
    execFile(program, args, { encoding: 'utf8', maxBuffer: 64 << 20 }, (err, _stdout, stderr) => {
      const missing = (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stderr: String(stderr ?? ''), missing });
    });
  });
}

/**
 * Creates a fifo or a device node with coreutils (`mkfifo`, `mknod`): Node
 * has neither call. Returns null on success, else the reason.
 */
export async function makeSpecial(host: string, entry: Entry): Promise<string | null> {
  const mode = (entry.mode & 0o777).toString(8);
  const args =
    entry.type === 'fifo'
      ? ['-m', mode, '--', host]
      : ['-m', mode, '--', host, entry.type === 'char' ? 'c' : 'b', String(entry.devmajor ?? 0), String(entry.devminor ?? 0)];
  const result = await run(entry.type === 'fifo' ? 'mkfifo' : 'mknod', args);
  if (result.missing) return `${entry.type === 'fifo' ? 'mkfifo' : 'mknod'} not installed`;
  return result.code === 0 ? null : result.stderr.trim() || `exit ${result.code}`;
}

/** Bytes that go into a setfattr dump unescaped; every other byte is written `\ooo`. */
const PLAIN = /[A-Za-z0-9/._+,=@-]/;

function escapeName(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && PLAIN.test(ch) ? ch : '\\' + byte.toString(8).padStart(3, '0');
  }
  return out;
}

/**
 * Writes extended attributes of many paths with one `setfattr --restore`
 * run (symlinks not followed). Returns the paths it could not set, with
 * the reason: attributes are set "where permitted" (`security.*` and
 * `trusted.*` need root; `user.*` cannot go on symlinks or devices).
 */
export async function writeXattrs(items: ReadonlyArray<{ host: string; xattrs: Readonly<Record<string, Uint8Array>> }>, scratch: string): Promise<Array<{ host: string; reason: string }>> {
  if (items.length === 0) return [];
  let dump = '';
  for (const { host, xattrs } of items) {
    dump += `# file: ${escapeName(host)}\n`;
    for (const [name, value] of Object.entries(xattrs)) dump += `${escapeName(name)}=0x${Buffer.from(value).toString('hex')}\n`;
    dump += '\n';
  }
  const file = join(scratch, 'xattrs.dump');
  await writeFile(file, dump);
  const result = await run('setfattr', ['-h', `--restore=${file}`]);
  if (result.missing) return items.map(({ host }) => ({ host, reason: 'setfattr (Debian package attr) is not installed' }));
  if (result.code === 0) return [];
  const failed: Array<{ host: string; reason: string }> = [];
  for (const line of result.stderr.split('\n')) {
    if (!line.startsWith('setfattr: ')) continue;
    const rest = line.slice('setfattr: '.length);
    const cut = rest.lastIndexOf(': ');
    failed.push(cut < 0 ? { host: rest, reason: 'setfattr failed' } : { host: rest.slice(0, cut), reason: rest.slice(cut + 2) });
  }
  return failed.length > 0 ? failed : items.map(({ host }) => ({ host, reason: result.stderr.trim() || 'setfattr failed' }));
}
