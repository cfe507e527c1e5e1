/**
 * The ids of a rootless sandbox. An unprivileged user namespace may map only
 * the caller's own uid and gid (to root), so every file the command chowns
 * and every other user or group it switches to is refused. A user given
 * subordinate ids (`/etc/subuid`, `/etc/subgid`, written by `useradd` or
 * `usermod --add-subuids`) gets more through shadow's setuid helpers
 * `newuidmap`/`newgidmap` (Debian package `uidmap`), as rootless podman and
 * buildah do: root maps to the caller, ids 1…count to the first range.
 *
 * util-linux `unshare --map-users/--map-groups` call those helpers (the old
 * `outer,inner,count` form, which newer releases still read).
 * @module
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { memoPromise } from '../memo.js';
import { SandboxError } from './errors.js';
import { findProgram, probeSandbox } from './probe.js';

/**
 * A block of subordinate ids: host ids `start`…`start + count - 1`.
 *
 * @example
 * ```ts
 * const range: IdRange = { start: 100000, count: 65536 };
 * ```
 */
export interface IdRange {
  start: number;
  count: number;
}

/**
 * The map of a rootless sandbox with subordinate ids: namespace id 0 is the
 * caller, ids 1…count are `start`… on the host.
 *
 * @example
 * ```ts
 * const map: IdMap = { uids: { start: 100000, count: 65536 }, gids: { start: 100000, count: 65536 } };
 * toHost(map.uids, 1000, process.getuid!()); // 100999
 * ```
 */
export interface IdMap {
  uids: IdRange;
  gids: IdRange;
}

/**
 * The first range of `user` (by name or by uid, as shadow reads them) in the
 * text of `/etc/subuid` or `/etc/subgid`.
 *
 * @example
 * ```ts
 * parseSubordinateIds('alice:100000:65536\n', { name: 'alice', uid: 1000 }); // { start: 100000, count: 65536 }
 * ```
 */
export function parseSubordinateIds(text: string, user: { name: string; uid: number }): IdRange | undefined {
  for (const line of text.split('\n')) {
    const fields = line.trim().split(':');
    if (fields.length !== 3) continue;
    const [owner, start, count] = fields as [string, string, string];
    if (owner !== user.name && owner !== String(user.uid)) continue;
    if (!/^\d+$/.test(start) || !/^\d+$/.test(count)) continue;
    const range = { start: Number(start), count: Number(count) };
    // Ids stop at 2^32 - 2 (-1 is "no id"); a range past that is not one the kernel can map.
    if (range.count > 0 && range.start + range.count <= 0xffffffff) return range;
  }
  return undefined;
}

/** A namespace id (1…count) as the host sees it. */
export function toHost(range: IdRange, id: number, caller: number): number {
  return id === 0 ? caller : range.start + id - 1;
}

/** A host id as the namespace sees it, or undefined when the map does not hold it. */
export function toNamespace(range: IdRange, hostId: number, caller: number): number | undefined {
  if (hostId === caller) return 0;
  if (hostId >= range.start && hostId < range.start + range.count) return hostId - range.start + 1;
  return undefined;
}

/** True when `id` exists in the namespace (0, the caller, or 1…count). */
export function mapsId(range: IdRange, id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id <= range.count;
}

/** `unshare` options that make the user namespace with `map` (root is the caller). */
export function unshareIdArgs(map: IdMap | undefined): string[] {
  if (!map) return ['--user', '--map-root-user'];
  return ['--user', '--map-root-user', `--map-users=${map.uids.start},1,${map.uids.count}`, `--map-groups=${map.gids.start},1,${map.gids.count}`];
}

/** The probe, once per process (a failed one is tried again). */
const found = new Map<'ids', Promise<IdMapProbe>>();

/**
 * The map of the rootless sandbox (probed once per process): undefined when
 * the caller is root (ids are real), else the map or why there is none.
 *
 * @example
 * ```ts
 * const ids = await sandboxIds(await probeSandbox());
 * if (ids && !ids.map) console.warn(`RUN cannot chown here: ${ids.reason}`);
 * ```
 */
export function sandboxIds(caps: { rootless: boolean; available: boolean; tools: Record<string, string> }): Promise<IdMapProbe | undefined> {
  if (!caps.rootless || !caps.available) return Promise.resolve(undefined);
  return memoPromise(found, 'ids', async () => findIdMap(caps.tools, { newuidmap: await findProgram('newuidmap'), newgidmap: await findProgram('newgidmap') }));
}

/** What {@link findIdMap} found: a map that works, or why there is none. */
export type IdMapProbe = { map: IdMap; reason?: undefined } | { map?: undefined; reason: string };

/**
 * The caller's subordinate ids, tried for real (`unshare` with the map, which
 * runs `newuidmap`/`newgidmap`). `unshare` and `sh` are the probed tools.
 */
export async function findIdMap(tools: Record<string, string>, helpers: { newuidmap?: string; newgidmap?: string }): Promise<IdMapProbe> {
  const uid = process.getuid?.() ?? 0;
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    return { reason: `uid ${uid} has no passwd entry (subordinate ids are listed by user name)` };
  }
  const user = { name, uid };
  const uids = parseSubordinateIds(await readFile('/etc/subuid', 'utf8').catch(() => ''), user);
  if (!uids) return { reason: `no subordinate uid range for ${name} in /etc/subuid` };
  const gids = parseSubordinateIds(await readFile('/etc/subgid', 'utf8').catch(() => ''), user);
  if (!gids) return { reason: `no subordinate gid range for ${name} in /etc/subgid` };
  if (!helpers.newuidmap || !helpers.newgidmap) return { reason: 'newuidmap/newgidmap not found (Debian package uidmap)' };
  const map = { uids, gids };
  const probe = await shellIn([tools.unshare!, ...unshareIdArgs(map), '--'], tools, 'cat /proc/self/uid_map /proc/self/gid_map', []);
  const out = probe.code === 0 ? probe.stdout : `error: ${probe.stderr.trim().split('\n').pop() || `exit code ${probe.code}`}`;
  const lines = out.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  const want = [`0 ${uid} 1`, `1 ${uids.start} ${uids.count}`, `0 ${process.getgid?.() ?? 0} 1`, `1 ${gids.start} ${gids.count}`];
  if (want.every((w) => lines.includes(w))) return { map };
  return { reason: `the subordinate ids of ${name} cannot be mapped: ${out.startsWith('error: ') ? out.slice(7) : out.trim()}` };
}

const MAPPED_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

/** Runs `sh -c script sh args…` under the command `enter` (unshare or nsenter with their options). */
function shellIn(enter: string[], tools: Record<string, string>, script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(enter[0]!, [...enter.slice(1), tools.sh!, '-c', script, 'sh', ...args], { env: MAPPED_ENV, cwd: '/', maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/**
 * Runs `sh -c script sh args…` as root of a user namespace with `map`: what
 * the caller cannot do to files owned by its subordinate ids (chown them,
 * remove them) it does there.
 */
export async function runMapped(map: IdMap, tools: Record<string, string>, script: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await shellIn([tools.unshare!, ...unshareIdArgs(map), '--'], tools, script, args);
  return { code, stderr };
}

/** One path whose owner a pass sets (namespace ids), with its mode (chown clears set-id bits). */
export interface OwnedPath {
  /** Relative to the tree's root, without a leading slash. */
  path: string;
  uid: number;
  gid: number;
  mode: number;
  symlink: boolean;
}

const SET_ID_BITS = 0o7000;

/**
 * Gives the paths of the tree at `root` their owners, as root of the
 * namespace (`chown -h` by `xargs`, one list per owner; set-id modes put
 * back). Ids the map does not hold stay with the caller (root inside).
 * `listDir` is a scratch directory for the lists.
 */
export async function applyOwners(map: IdMap, tools: Record<string, string>, root: string, owned: readonly OwnedPath[], listDir: string): Promise<void> {
  const byOwner = new Map<string, string[]>();
  const byMode = new Map<string, string[]>();
  const realRoot = await realpath(root);
  for (const p of owned) {
    if (!mapsId(map.uids, p.uid) || !mapsId(map.gids, p.gid)) continue;
    // Not everything of a layer exists as a file (device nodes an unprivileged caller cannot make).
    if (!(await lstat(join(root, p.path)).then(() => true, () => false))) continue;
    // chown -h follows symlinks on the way: a path whose parent leads elsewhere (a layer's symlink
    // to a host directory) must not give a file of the caller away.
    const parent = dirname(p.path);
    if ((await realpath(join(root, parent)).catch(() => undefined)) !== (parent === '.' ? realRoot : join(realRoot, parent))) continue;
    const key = `${p.uid}.${p.gid}`;
    byOwner.set(key, [...(byOwner.get(key) ?? []), './' + p.path]);
    if (!p.symlink && (p.mode & SET_ID_BITS) !== 0) {
      const mode = (p.mode & 0o7777).toString(8);
      byMode.set(mode, [...(byMode.get(mode) ?? []), './' + p.path]);
    }
  }
  if (byOwner.size === 0) return;
  await mkdir(listDir, { recursive: true });
  for (const [key, paths] of byOwner) await writeFile(join(listDir, `o.${key}`), paths.join('\0') + '\0');
  for (const [mode, paths] of byMode) await writeFile(join(listDir, `m.${mode}`), paths.join('\0') + '\0');
  const script = [
    'cd "$1" || exit 1',
    'for f in "$2"/o.*; do [ -e "$f" ] || continue; ids=${f##*/o.}; xargs -0 -r -a "$f" chown -h "${ids%.*}:${ids#*.}" -- || exit 1; done',
    'for f in "$2"/m.*; do [ -e "$f" ] || continue; xargs -0 -r -a "$f" chmod "${f##*/m.}" -- || exit 1; done',
  ].join('\n');
  const result = await runMapped(map, tools, script, [root, listDir]);
  await rm(listDir, { recursive: true, force: true });
  if (result.code !== 0) {
    throw new SandboxError('SANDBOX_SETUP_FAILED', `cannot give the files their owners in the user namespace: ${result.stderr.trim().split('\n').pop() ?? ''}`, { path: root, reason: result.stderr.trim() });
  }
}

/** The file in which the post-command pass lists the owners it handed back (see {@link ownersBackScript}). */
export const OWNERS_FILE = 'owners';

/**
 * Shell run by the namespace's outer init once the command has ended: it
 * lists what in `$OWNED` (the upperdir, or the copy) belongs to an id other
 * than root's — `uid gid mode path`, NUL-terminated — into `$OWNERS`, then
 * gives those objects back to root (the caller), who can then read and
 * remove them outside the namespace. `find` and `chown` are the host's.
 */
export function ownersBackScript(owned: string, owners: string, also: string[] = []): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const select = `-mindepth 1 \\( ! -uid 0 -o ! -gid 0 \\)`;
  // `also`: trees of the step given owners for the command only (the stubs layer): handed back unlisted.
  const rest = also.map((dir) => `; chown -R -h 0:0 ${q(dir)}`).join('');
  return `(cd ${q(owned)} && find . ${select} -printf '%U %G %m %P\\0' > ${q(owners)} && find . ${select} -exec chown -h 0:0 {} +${rest}) >/dev/null 2>&1`;
}

/** One record of an owners file: `uid gid mode path`. */
const OWNER_RECORD = /^(\d+) (\d+) ([0-7]+) ([\s\S]+)$/;

/** What {@link ownersBackScript} recorded: path (`/a/b`) → namespace ids and mode. */
export async function readOwners(file: string): Promise<Map<string, { uid: number; gid: number; mode: number }>> {
  const out = new Map<string, { uid: number; gid: number; mode: number }>();
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const record of text.split('\0')) {
    const match = OWNER_RECORD.exec(record);
    if (match) out.set('/' + match[4], { uid: Number(match[1]), gid: Number(match[2]), mode: parseInt(match[3]!, 8) & 0o7777 });
  }
  return out;
}

/**
 * Makes `target` (a resolved path inside the root `merged`, a stopped
 * container's overlay over its handed-back writable layer) writable to the
 * caller, as root of the namespace `enter` runs a command in: the
 * directories on the way to it and everything below it are given to root
 * and their owners recorded in `ownersFile` (the next start gives them back,
 * see {@link ownersBackScript}), except what the copy writes (`written`,
 * relative to `target`, `''` for itself), which becomes root's unrecorded,
 * as `docker cp` run by root leaves what it writes.
 *
 * @example
 * ```ts
 * await handBackForWrite([nsenter, '-t', String(pid), '--user', '--mount', '--'], caps.tools, '/tmp/c/cp-x/m', '/home/app', [{ path: '', dir: true }, { path: 'f', dir: false }], join(dir, OWNERS_FILE));
 * ```
 */
export async function handBackForWrite(
  enter: string[],
  tools: Record<string, string>,
  merged: string,
  target: string,
  written: ReadonlyArray<{ path: string; dir: boolean }>,
  ownersFile: string,
): Promise<void> {
  const parts = target.split('/').filter(Boolean);
  const top = parts.join('/');
  const ancestors = parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
  const inNamespace = async (script: string, args: string[]) => {
    const result = await shellIn(enter, tools, script, [merged, ...args]);
    if (result.code !== 0) throw new SandboxError('SANDBOX_SETUP_FAILED', `cannot make ${target} writable in the user namespace: ${result.stderr.trim()}`, { path: target, reason: result.stderr.trim() });
    return result.stdout;
  };
  const stats = ancestors.length === 0 ? '' : await inNamespace('cd "$1" && shift && for p; do stat -c \'%u %g %a\' -- "./$p" || exit 1; done', ancestors);
  const records: string[] = [];
  const given: string[] = [];
  stats.trim().split('\n').forEach((line, i) => {
    const path = ancestors[i];
    if (path === undefined || /^0 0 /.test(line)) return;
    records.push(`${line} ${path}`);
    given.push(path);
  });
  const inTarget = (rel: string) => (rel === '' ? top : top === '' ? rel : `${top}/${rel}`);
  const replaced = new Set(written.map((w) => inTarget(w.path)));
  // A non-directory of the copy removes whatever tree was at its path.
  const removedTrees = written.filter((w) => !w.dir).map((w) => inTarget(w.path) + '/');
  const keep = (record: string) => {
    const path = OWNER_RECORD.exec(record)?.[4];
    return path !== undefined && !replaced.has(path) && !removedTrees.some((t) => path.startsWith(t));
  };
  // What is below the target and not root's keeps its owner: listed as the owners-back pass lists (namespace ids).
  const below = top === '' ? '.' : `./${top}`;
  const found = top === '' ? '' : await inNamespace('cd "$1" && { ! [ -e "$2" ] || find "$2" \\( ! -uid 0 -o ! -gid 0 \\) -printf \'%U %G %m %p\\0\'; }', [below]);
  for (const record of found.split('\0')) {
    const match = OWNER_RECORD.exec(record);
    if (!match) continue;
    const path = match[4]!.replace(/^\.\/?/, '');
    if (path !== '') records.push(`${match[1]} ${match[2]} ${match[3]} ${path}`);
  }
  const kept = (await readFile(ownersFile, 'utf8').catch(() => '')).split('\0').filter(keep);
  // Recorded before the owners change: a failure after this leaves records that give back what is still there.
  const all = [...kept, ...records.filter(keep)];
  await writeFile(ownersFile, all.length === 0 ? '' : all.join('\0') + '\0');
  const script = 'cd "$1" && shift && t="$1" && shift && { [ $# -eq 0 ] || chown -h 0:0 -- "$@"; } && { [ -z "$t" ] || ! [ -e "./$t" ] || chown -R -h 0:0 -- "./$t"; }';
  await inNamespace(script, [top, ...given.map((p) => './' + p)]);
}

/**
 * Removes a tree, also when files of subordinate ids are in it (a step that
 * was killed before its owners were handed back): through the namespace.
 */
export async function removeMappedTree(dir: string, ids: IdMapProbe | undefined, tools: Record<string, string>): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
    return;
  } catch (err) {
    if (!ids?.map) throw err;
  }
  const result = await runMapped(ids.map, tools, 'chmod -R u+rwX -- "$1" 2>/dev/null; rm -rf -- "$1"', [dir]);
  if (result.code !== 0) throw new SandboxError('SANDBOX_SETUP_FAILED', `cannot remove ${dir}: ${result.stderr.trim()}`, { path: dir, reason: result.stderr.trim() });
}

/**
 * Removes a tree of the store that may hold files of the caller's
 * subordinate ids (lower directories chowned for a rootless sandbox), which
 * the caller alone cannot remove.
 *
 * @example
 * ```ts
 * await removeOwnedTree(join(store.root, 'layers-extracted', hex));
 * ```
 */
export async function removeOwnedTree(dir: string): Promise<void> {
  try {
    await rm(dir, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY') throw err;
    const caps = await probeSandbox();
    await removeMappedTree(dir, await sandboxIds(caps), caps.tools);
  }
}

/**
 * Gives a directory of the caller (a new cache mount) an owner of the
 * rootless sandbox's namespace: through its subordinate ids when it has
 * them; without, the directory stays the caller's (root inside, and the
 * step's own user in the one-id sandbox).
 */
export async function chownForSandbox(dir: string, uid: number, gid: number, mode: number): Promise<void> {
  const caps = await probeSandbox();
  const ids = await sandboxIds(caps);
  if (!ids?.map) return;
  await applyOwners(ids.map, caps.tools, dirname(dir), [{ path: basename(dir), uid, gid, mode, symlink: false }], `${dir}.ids-${process.pid}`);
}
