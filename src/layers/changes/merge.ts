/**
 * Placing a staged layer onto an existing directory tree, journaled so that
 * any failure can be undone (see `extract.ts` for the whole procedure).
 * @module
 */
import type { Stats } from 'node:fs';
import { chmod, lchown, lstat, lutimes, mkdir, readdir, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Entry } from '../entry.js';
import { UnsafePathError } from '../errors.js';
import { childPath } from '../path.js';
import { lookup, lstatOrNull, setMetadata, writeXattrs, type MetadataPolicy } from './disk.js';
import { LayerFormatError } from './errors.js';
import type { LayerPlan } from './plan.js';

/** A layer written into a staging directory, ready to be placed. */
export interface StagedTree {
  /** The staging directory: the layer's root. */
  readonly root: string;
  readonly plan: LayerPlan;
  /** Type of every staged path (implicit parents are `dir`). */
  readonly types: Map<string, Entry['type']>;
  /** Directories staged only as parents of other entries. */
  readonly implicit: Set<string>;
  readonly skipped: Array<{ path: string; reason: string }>;
  readonly count: number;
  /** Sets the staged directory attributes at and below `path`, deepest first. */
  finalize(path: string): Promise<void>;
}

type Step = { kind: 'rename'; from: string; to: string } | { kind: 'attrs'; host: string; stat: Stats };

/** Every change made to the target, in order, so it can be undone. */
class Journal {
  readonly #steps: Step[] = [];
  readonly #parents = new Set<string>();
  #trashed = 0;
  constructor(readonly trash: string) {}

  /** Moves a target path out of the way (into the trash). */
  async hide(host: string): Promise<void> {
    await this.#parentOf(host);
    const to = join(this.trash, String(this.#trashed++));
    await rename(host, to);
    this.#steps.push({ kind: 'rename', from: host, to });
  }

  /** Moves a staged path into the target. */
  async place(from: string, to: string): Promise<void> {
    await this.#parentOf(to);
    await rename(from, to);
    this.#steps.push({ kind: 'rename', from, to });
  }

  /** A rename changes its directory's mtime: remember it once, so that undoing restores it. */
  async #parentOf(host: string): Promise<void> {
    const dir = dirname(host);
    if (this.#parents.has(dir)) return;
    this.#parents.add(dir);
    await this.remember(dir);
  }

  /** Records a path's attributes before they are changed. */
  async remember(host: string): Promise<void> {
    this.#steps.push({ kind: 'attrs', host, stat: await lstat(host) });
  }

  /** Undoes every step, newest first; keeps going past failures and returns them. */
  async undo(): Promise<unknown[]> {
    const failures: unknown[] = [];
    for (const step of this.#steps.reverse()) {
      try {
        if (step.kind === 'rename') await rename(step.to, step.from);
        else {
          await lchown(step.host, step.stat.uid, step.stat.gid);
          await chmod(step.host, step.stat.mode & 0o7777);
          await lutimes(step.host, step.stat.atime, step.stat.mtime);
        }
      } catch (err) {
        failures.push(err);
      }
    }
    return failures;
  }
}

/**
 * Applies a staged layer onto `target`: hides lower paths (opaque markers,
 * then whiteouts), renames staged paths into place (a new directory moves as
 * a whole; one that exists is merged child by child) and sets the attributes
 * of merged directories last, deepest first. On failure everything is undone
 * and the error rethrown.
 */
export async function mergeIntoTarget(staged: StagedTree, target: string, trash: string, policy: MetadataPolicy): Promise<void> {
  const journal = new Journal(trash);
  await mkdir(trash, { mode: 0o700 });
  try {
    await hideLower(staged.plan, target, journal);
    const merged: Array<{ host: string; entry: Entry }> = [];
    await mergeDirectory(staged, '/', staged.root, target, journal, merged);
    const root = staged.plan.written.get('/');
    if (root) merged.push({ host: target, entry: root });
    for (const { host, entry } of merged.reverse()) {
      await journal.remember(host);
      await setMetadata(host, entry, policy);
    }
    const withXattrs = merged.filter(({ entry }) => entry.xattrs && Object.keys(entry.xattrs).length > 0);
    const failures = await writeXattrs(
      withXattrs.map(({ host, entry }) => ({ host, xattrs: entry.xattrs! })),
      trash,
    );
    for (const f of failures) staged.skipped.push({ path: withXattrs.find((m) => m.host === f.host)?.entry.path ?? f.host, reason: `xattrs: ${f.reason}` });
  } catch (err) {
    await journal.undo();
    throw err;
  }
}

async function hideLower(plan: LayerPlan, target: string, journal: Journal): Promise<void> {
  for (const dir of plan.opaques) {
    const found = await lookup(target, dir);
    if (found.kind === 'symlink') {
      if (plan.written.has(found.at)) continue;
      throw new UnsafePathError(dir, `opaque marker below symlink ${found.at}`);
    }
    if (found.kind !== 'found') continue;
    if (found.stat.isSymbolicLink()) {
      if (plan.written.has(dir)) continue;
      throw new UnsafePathError(dir, 'opaque marker on a symlink');
    }
    if (!found.stat.isDirectory()) {
      if (plan.written.has(dir)) continue;
      throw new LayerFormatError('NOT_A_DIRECTORY', dir, `opaque marker below a ${found.stat.isFile() ? 'file' : 'special file'}`);
    }
    for (const name of await readdir(found.host)) await journal.hide(join(found.host, name));
  }
  for (const path of plan.whiteouts) {
    const found = await lookup(target, path);
    if (found.kind === 'symlink') {
      if (plan.written.has(found.at)) continue;
      throw new UnsafePathError(path, `whiteout below symlink ${found.at}`);
    }
    if (found.kind === 'found') await journal.hide(found.host);
  }
}

async function mergeDirectory(
  staged: StagedTree,
  path: string,
  stageHost: string,
  targetHost: string,
  journal: Journal,
  merged: Array<{ host: string; entry: Entry }>,
): Promise<void> {
  for (const name of await readdir(stageHost)) {
    const p = childPath(path, name);
    const from = join(stageHost, name);
    const to = join(targetHost, name);
    const existing = await lstatOrNull(to);
    if (staged.types.get(p) !== 'dir') {
      if (existing) await journal.hide(to);
      await journal.place(from, to);
      continue;
    }
    const entry = staged.plan.written.get(p);
    if (existing?.isDirectory()) {
      if (entry) merged.push({ host: to, entry });
      await mergeDirectory(staged, p, from, to, journal, merged);
      continue;
    }
    if (existing) {
      if (!entry && existing.isSymbolicLink()) throw new UnsafePathError(p, `${p} is a symlink in the target and the layer writes below it`);
      if (!entry) throw new LayerFormatError('NOT_A_DIRECTORY', p, `${p} is not a directory in the target and the layer writes below it`);
      await journal.hide(to);
    }
    await staged.finalize(p);
    await journal.place(from, to);
  }
}
