/**
 * Scratch space of a store: every temporary directory a command makes for
 * a store lives under the store (`<store>/tmp`, or beside the files it will
 * become), named after its owner — pid and the process's start time, so a
 * later process with the same pid is not taken for the owner. The next
 * command that opens the store removes what dead owners left behind (a build
 * killed with `kill -9` leaves its staged layers, its RUN step directories
 * and half-extracted layers; nothing else would ever remove them).
 *
 * Directories that cannot carry an owner in their name (made by code that
 * takes only a parent directory) are covered by registration: a process
 * registers itself in `<store>/tmp/.live/` before it makes any, and an
 * unnamed entry is removed only when no registered process is alive.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, rmdirSync, rmSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { atExit } from '../../exit-cleanups.js';
import { memoPromise } from '../../memo.js';
import { temporaryWriter } from '../fs-atomic.js';
import { processAlive } from './lock.js';

/** Files of dead writers without an owner tag are removed after this long anyway. */
const ORPHAN_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/** The start time of a process in clock ticks since boot (`/proc/PID/stat` field 22), or undefined. */
export function processStartTime(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

let selfTag: string | undefined;
let hostTag: string | undefined;

/** This host, as 8 hex digits: a store on a shared file system may hold other hosts' scratch. */
function thisHost(): string {
  hostTag ??= createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
  return hostTag;
}

/**
 * This process as an owner: `p<pid>s<start time>h<host>` (start time 0
 * where `/proc` is not there).
 *
 * @example
 * ```ts
 * ownerTag(); // 'p4242s1234567h1f2e3d4c'
 * ```
 */
export function ownerTag(): string {
  selfTag ??= `p${process.pid}s${processStartTime(process.pid) ?? '0'}h${thisHost()}`;
  return selfTag;
}

const OWNER = /-(p(\d+)s(\d+)h([0-9a-f]{8}))-[0-9a-f]+$/;

/** Whether the owner named by a tag's pid and start time is a live process on this host. */
export function ownerAlive(pid: number, start: string): boolean {
  if (!processAlive(pid)) return false;
  if (start === '0') return true;
  const now = processStartTime(pid);
  // No /proc entry although kill() saw the pid: another pid namespace; keep it.
  return now === undefined || now === start;
}

/** The owner a scratch name carries, if it carries one (`tag` as {@link ownerTag} writes it). */
export function scratchOwner(name: string): { pid: number; start: string; host: string; tag: string } | undefined {
  const match = OWNER.exec(name);
  return match ? { tag: match[1]!, pid: Number(match[2]), start: match[3]!, host: match[4]! } : undefined;
}

/**
 * Whether the owner of a scratch name may still be using it: a live process
 * with that pid and start time on this host; an owner on another host
 * cannot be asked, so it counts as alive (its leftovers age out after a day).
 */
export function ownerLives(owner: { pid: number; start: string; host: string }): boolean {
  return owner.host !== thisHost() || ownerAlive(owner.pid, owner.start);
}

/**
 * A unique scratch name `<prefix>-<owner>-<random>` (`.step-p42s9-…`).
 *
 * @example
 * ```ts
 * await mkdir(join(store.root, 'tmp', scratchName('build')));
 * ```
 */
export function scratchName(prefix: string): string {
  return `${prefix}-${ownerTag()}-${randomBytes(6).toString('hex')}`;
}

/**
 * Makes a new owned directory `<parent>/<prefix>-<owner>-<random>`
 * (the parent is created when missing) and returns its path.
 *
 * @example
 * ```ts
 * const dir = await makeScratchDir(join(store.root, 'tmp'), 'build');
 * ```
 */
export async function makeScratchDir(parent: string, prefix: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  const dir = join(parent, scratchName(prefix));
  await mkdir(dir, { mode: 0o700 });
  return dir;
}

/**
 * The scratch directory of a store: the parent for {@link makeScratchDir},
 * swept of directories whose owner died by `ImageStore.sweepAbandoned`.
 *
 * @example
 * ```ts
 * const dir = await makeScratchDir(storeTmp(store.root), 'export');
 * ```
 */
export function storeTmp(storeRoot: string): string {
  return join(storeRoot, 'tmp');
}

/**
 * Sweeps a store's scratch places: `tmp/`, `cache/tmp/` and the partial
 * extractions in `layers-extracted/`. See {@link sweepScratch}.
 *
 * @example
 * ```ts
 * const removed = await sweepStoreScratch(store.root);
 * ```
 */
export function sweepStoreScratch(storeRoot: string): Promise<number> {
  const tmp = storeTmp(storeRoot);
  return sweepScratch([tmp, join(storeRoot, 'cache', 'tmp'), join(storeRoot, 'layers-extracted')], tmp);
}

const processDirs = new Map<string, Promise<string>>();

/**
 * A scratch directory of this process in the store's `tmp/`
 * (`<prefix>-<owner>-<random>`), made on the first call for a store and
 * prefix and shared by later ones: for files that live as long as the
 * process (the spool of a layer index). It is removed when the process
 * exits; after a `kill -9` the next command that opens the store sweeps it,
 * as its owner is dead. Made again if something removed it meanwhile.
 *
 * @example
 * ```ts
 * const index = await indexLayer(layer, { spoolDir: await processScratchDir(store.root, 'spool') });
 * ```
 */
export async function processScratchDir(storeRoot: string, prefix: string): Promise<string> {
  const dir = await memoPromise(processDirs, join(storeTmp(storeRoot), prefix), async () => {
    const made = await makeScratchDir(storeTmp(storeRoot), prefix);
    atExit(() => rmSync(made, { recursive: true, force: true }));
    return made;
  });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

const registered = new Map<string, { file: string; users: number; cancel: () => void }>();

/**
 * Registers this process as a user of the store's scratch space, so
 * {@link sweepScratch} keeps entries made without an owner tag while it
 * lives; resolves to the function that ends the registration (counted: the
 * file goes when the last user of this process releases it, or at exit).
 *
 * @example
 * ```ts
 * const release = await registerScratchUser(store.root);
 * try { await work(); } finally { await release(); }
 * ```
 */
export async function registerScratchUser(storeRoot: string): Promise<() => Promise<void>> {
  const dir = join(storeTmp(storeRoot), '.live');
  const known = registered.get(dir);
  if (known) {
    known.users++;
  } else {
    const file = join(dir, `live-${ownerTag()}-0`);
    for (let attempt = 0; ; attempt++) {
      await mkdir(dir, { recursive: true });
      try {
        await writeFile(file, '');
        break;
      } catch (err) {
        // Another process removed the emptied directory between the two calls.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 5) throw err;
      }
    }
    const atEnd = () => {
      rmSync(file, { force: true });
      // Leave no empty directory behind; another process's registration keeps it (ENOTEMPTY).
      rmdirSync(dir);
    };
    registered.set(dir, { file, users: 1, cancel: atExit(atEnd) });
  }
  let released = false;
  return async () => {
    const entry = registered.get(dir);
    if (released || !entry) return;
    released = true;
    if (--entry.users > 0) return;
    registered.delete(dir);
    entry.cancel();
    await rm(entry.file, { force: true });
    // Leave no empty directory behind; another process's registration keeps it.
    await rmdir(dir).catch(() => undefined);
  };
}

async function liveRegistrations(dir: string): Promise<boolean> {
  let someoneAlive = false;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const owner = scratchOwner(name);
    if (owner && ownerLives(owner)) someoneAlive = true;
    else await rm(join(dir, name), { force: true });
  }
  // Emptied of dead registrations (a process killed with kill -9): the directory goes too, as at a
  // clean exit. One registering now retries its write (see registerScratchUser); a live one keeps it.
  if (!someoneAlive) await rmdir(dir).catch(() => undefined);
  return someoneAlive;
}

/** Removes a tree plain `rm` could not (see {@link useStubbornTreeRemover}). */
export type TreeRemover = (dir: string) => Promise<void>;

let stubbornRemover: TreeRemover | undefined;

/**
 * Sets how {@link sweepScratch} removes a tree that this process cannot
 * delete with plain `rm`: a RUN step killed mid-command leaves files of the
 * caller's subordinate ids (and overlayfs work directories at mode 0) that
 * only a user namespace can remove. The module that knows namespaces (the
 * sandbox, above the store) sets it when it loads.
 *
 * @example
 * ```ts
 * useStubbornTreeRemover(async (dir) => { await removeInNamespace(dir); });
 * ```
 */
export function useStubbornTreeRemover(remover: TreeRemover): void {
  stubbornRemover = remover;
}

async function removeScratchEntry(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!stubbornRemover || (code !== 'EACCES' && code !== 'EPERM' && code !== 'ENOTEMPTY')) return;
    // What cannot be removed now stays for the next sweep.
    await stubbornRemover(path).catch(() => undefined);
  }
}

/**
 * Removes what dead owners left in the directories scratch lives in:
 * `dirs` entries whose owner tag names a dead process; temporary files of
 * the atomic writer whose pid is dead; in `unnamedIn`, entries without any
 * owner when no registered user of the store is alive; anything of ours
 * older than a day. Returns how many entries went.
 *
 * @example
 * ```ts
 * await sweepScratch([join(root, 'tmp'), join(root, 'layers-extracted')], join(root, 'tmp'));
 * ```
 */
export async function sweepScratch(dirs: string[], unnamedIn?: string): Promise<number> {
  let removed = 0;
  for (const dir of dirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    // Listed before registrations are read: an unnamed entry seen here was made by a user registered by now.
    const registrantsAlive = dir === unnamedIn ? await liveRegistrations(join(dir, '.live')) : true;
    for (const name of names) {
      if (name === '.live') continue;
      const path = join(dir, name);
      const owner = scratchOwner(name);
      const writer = owner ? undefined : temporaryWriter(name);
      let dead: boolean;
      if (owner) dead = !ownerLives(owner);
      else if (writer) dead = writer.thisHost && !ownerAlive(writer.pid, '0');
      else if (dir === unnamedIn) dead = !registrantsAlive;
      else continue; // not ours to judge (a finished extraction, a blob)
      if (!dead) {
        const info = await stat(path).catch(() => undefined);
        // A live owner here keeps its entry however old; another host's goes after a day.
        if (!info || Date.now() - info.mtimeMs <= ORPHAN_MAX_AGE_MS || owner?.host === thisHost()) continue;
      }
      await removeScratchEntry(path);
      removed++;
    }
  }
  return removed;
}
